"""Binding an XMPP address to an account: chat messages to the gateway's own JID.

An XMPP user proves an account as an IRC client does with NickServ IDENTIFY:
a chat message `IDENTIFY account password` to the component's domain (the
XMPP server authenticated the `from` JID; the password proves the account).
From then on the bare JID's presence in a room is a location of that
account's person while the person is online (`presence._join_as`): one
occupant, the person's nick, its lines copied to the person's IRC sessions.
`LOGOUT` unbinds (rooms already joined stay as they are).

The binding lives in the gateway's memory, like a login: it ends with the
server (the user sends IDENTIFY again); it is not stored on the account.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from ircpsyc.services.hash_queue import Work
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S

if TYPE_CHECKING:
    from ircpsyc.xmpp.state import Host

log = logging.getLogger(__name__)

HELP = (
    "Commands: IDENTIFY <account> <password> (your presence in rooms becomes that "
    "account's person while it is online), LOGOUT."
)
BINDINGS_MAX = 100000  # bound JIDs kept (one per XMPP user that identified)


def handle(gw: Host, element: Element, sender: J.JID) -> None:
    """A message to the gateway's own JID: a command, answered by a chat message."""
    if element.get("type", "normal") not in ("chat", "normal"):
        return
    body = (S.child_text(element, "body") or "").strip()
    if not body:
        return
    words = body.split()
    command = words[0].upper()
    if command == "IDENTIFY" and len(words) == 3:
        _identify(gw, element, sender, words[1], words[2])
    elif command == "LOGOUT":
        gw.bindings.pop(sender.bare, None)
        _reply(gw, element, "You are logged out; your next joins are your own again.")
    else:
        _reply(gw, element, HELP)


def _reply(gw: Host, element: Element, text: str) -> None:
    message = S.stanza("message", gw.domain, element.get("from", ""), "chat", element.get("id", ""))
    S.text_child(message, "body", text)
    gw.send(message)


def _identify(gw: Host, element: Element, sender: J.JID, name: str, password: str) -> None:
    accounts = gw.core.accounts
    account = accounts.get(name) if accounts is not None else None
    if accounts is None or account is None:
        gw.send(S.error(element, "not-authorized", "Invalid account credentials."))
        return
    attempt = accounts.limiter.begin(account.name, "", gw.core.clock())
    if attempt is None:
        gw.send(S.error(element, "policy-violation", "Too many attempts; try again later."))
        return

    def job() -> bool:
        try:
            return accounts.check_password(account, password)
        except Exception:
            log.exception("XMPP IDENTIFY: checking the password failed")
            return False

    def done(ok: Any) -> None:
        accounts.limiter.finish(attempt, bool(ok), gw.core.clock())
        if not ok or accounts.get(account.name) is not account:
            gw.send(S.error(element, "not-authorized", "Invalid account credentials."))
            return
        if sender.bare not in gw.bindings and len(gw.bindings) >= BINDINGS_MAX:
            gw.send(S.error(element, "resource-constraint", "Too many identified users."))
            return
        gw.bindings[sender.bare] = account.name
        _reply(gw, element, f"You are now identified as {account.name}.")

    if not gw.core.offload([], job, done, Work.VERIFY):
        accounts.limiter.cancel(attempt)
        gw.send(S.error(element, "resource-constraint", "Busy; try again later."))
