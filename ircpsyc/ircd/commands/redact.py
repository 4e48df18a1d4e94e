"""REDACT (draft/message-redaction): take back a line said in a channel.

The handler only asks the channel's place (`_request_redact`); the place, at the
channel's home, decides who may (`ircpsyc.channels.place.Place._redact`) and
casts the REDACT to every member on every server, and history forgets the line.
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import caps as C
from ircpsyc.ircd.client import Client, render_redact
from ircpsyc.ircd.core import command
from ircpsyc.ircd.history_hooks import redact_private
from ircpsyc.ircd.moderation import override_vars
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, is_service


# REDACT <target> <msgid> [<reason>]
@command("REDACT", min_params=2)
def handle_redact(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    target, msgid = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 else ""
    if not target.startswith("#"):
        return _redact_private(s, client, target, msgid, reason)
    view = client.channels.get(casefold(target))
    override = override_vars(s)
    if view is None and override:
        view = s.core.places.get(target)  # an oper may redact in a channel it is not in
    if view is None:
        s.fail("REDACT", "INVALID_TARGET", target, "You cannot redact messages there")
        return
    vars: dict[str, Value] = {
        V.PREFIX: client.prefix,
        V.ID_REDACTED: msgid,
        **override,
    }
    if client.account:
        vars[V.ACCOUNT] = client.account
    if reason:
        vars[V.REASON] = reason
    client.request(V.REQUEST_REDACT, view.uniform, vars)


def _redact_private(s: Session, client: Client, nick: str, msgid: str, reason: str) -> None:
    """A private line: its sender takes it back; both parties' sessions get REDACT."""
    target = s.core.find(nick)
    if target is None or is_service(target.uniform):
        s.fail("REDACT", "INVALID_TARGET", nick, "You cannot redact messages there")
        return
    refusal = redact_private(s.core, client, target, msgid)
    if refusal:
        s.fail("REDACT", refusal, nick, msgid, _FAIL_TEXT[refusal])
        return
    vars: dict[str, Value] = {
        V.NICK: client.nick,
        V.PREFIX: client.prefix,
        V.NICK_TARGET: target.nick,
        V.ID_REDACTED: msgid,
        V.ID: new_id(),
        V.TIME: str(int(s.core.clock() * 1000)),
    }
    if client.account:
        vars[V.ACCOUNT] = client.account
    if reason:
        vars[V.REASON] = reason
    packet = Packet(
        V.NOTICE_PRIVATE_REDACT, {V.SOURCE: client.uniform, V.TARGET: target.uniform}, vars
    )
    if target is not client:
        s.core.router.send(packet)
    for session in client.sessions:  # the sender's own sessions
        if C.MESSAGE_REDACTION in session.caps:
            session.send(render_redact(packet, session.fmt))


_FAIL_TEXT = {
    "UNKNOWN_MSGID": "No such message in the history",
    "REDACT_FORBIDDEN": "You may not redact that message",
    "REDACT_WINDOW_EXPIRED": "That message is too old to take back",
}
