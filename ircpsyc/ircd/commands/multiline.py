"""BATCH from clients: draft/multiline batches (one message of several lines)."""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import caps as C
from ircpsyc.ircd.commands.messaging import send_multiline
from ircpsyc.ircd.core import command
from ircpsyc.ircd.multiline import Multiline
from ircpsyc.ircd.session import Session


# BATCH +<ref> draft/multiline <target> | BATCH -<ref>
@command("BATCH", min_params=1)
def handle_batch(s: Session, msg: Line) -> None:
    ref = msg.params[0]
    if ref.startswith("+") and len(ref) > 1:
        if len(msg.params) < 3 or msg.params[1] != C.MULTILINE_BATCH or C.MULTILINE not in s.caps:
            s.fail("BATCH", "INVALID_TYPE", "Unsupported batch type")
            return
        if s.multiline is not None:
            s.multiline = None
            s.fail("BATCH", "MULTILINE_INVALID", "A multiline batch is open already")
            return
        tags = {k: v for k, v in (msg.tags or {}).items() if k.startswith("+")}
        s.multiline = Multiline(ref[1:], msg.params[2], tags)
    elif ref.startswith("-"):
        batch, s.multiline = s.multiline, None
        if batch is None or batch.ref != ref[1:]:
            s.fail("BATCH", "MULTILINE_INVALID", "No such batch open")
            return
        send_multiline(s, batch)
    else:
        s.fail("BATCH", "INVALID_REFTAG", "Invalid batch reference")
