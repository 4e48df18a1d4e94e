"""REDACT (draft/message-redaction): take back a line said in a channel.

The handler only asks the channel's place (`_request_redact`); the place, at the
channel's home, decides who may (`ircpsyc.channels.place.Place._redact`) and
casts the REDACT to every member on every server, and history forgets the line.
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd.core import command
from ircpsyc.ircd.moderation import override_vars
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Value
from ircpsyc.psyc_backend.uniform import casefold


# REDACT <target> <msgid> [<reason>]
@command("REDACT", min_params=2)
def handle_redact(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    target, msgid = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 else ""
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
