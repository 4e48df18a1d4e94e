"""ISUPPORT (draft/extended-isupport): the 005 tokens on demand, also before registering."""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import add_tag, line
from ircpsyc.ircd.session import Session

ISUPPORT_BATCH = "draft/isupport"
TOKENS_PER_LINE = 12


# ISUPPORT
@command("ISUPPORT", pre_registration=True)
def handle_isupport(s: Session, msg: Line) -> None:
    if C.EXTENDED_ISUPPORT not in s.caps:
        if s.registered:
            s.numeric(N.ERR_UNKNOWNCOMMAND, "ISUPPORT", "Unknown command")
        else:
            s.numeric(N.ERR_NOTREGISTERED, "You have not registered")
        return
    core = s.core
    tokens = core.isupport
    target = s.nick or "*"
    rows = [
        line(
            core.name,
            N.RPL_ISUPPORT,
            target,
            *tokens[start : start + TOKENS_PER_LINE],
            "are supported by this server",
        )
        for start in range(0, len(tokens), TOKENS_PER_LINE)
    ]
    if C.BATCH not in s.caps:
        for data in rows:
            s.send(data)
        return
    ref = core.new_batch_id()
    s.send(line(core.name, "BATCH", "+" + ref, ISUPPORT_BATCH))
    for data in rows:
        s.send(add_tag(data, "batch=" + ref))
    s.send(line(core.name, "BATCH", "-" + ref))
