"""draft/multiline: a client's batch of lines, collected until it ends.

A client opens `BATCH +ref draft/multiline <target>`, sends PRIVMSG or NOTICE
lines tagged `batch=ref` (a line tagged `draft/multiline-concat` continues the
previous one without a line break) and closes with `BATCH -ref`.  The lines
then travel as one message: the body joined by LF and `_multiline`, one flag
per line ("1": concatenated).  History keeps it as one entry and links carry
one packet; `ircpsyc.ircd.client.render_message` turns it back into a batch,
or into separate lines for clients without the capability.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ircpsyc.ircd.caps import MULTILINE_MAX_BYTES as MAX_BYTES
from ircpsyc.ircd.caps import MULTILINE_MAX_LINES as MAX_LINES


@dataclass
class Multiline:
    """A client batch being collected by one session."""

    ref: str
    target: str
    tags: dict[str, str]  # the client-only tags of BATCH + (they apply to the message)
    verb: str = ""
    lines: list[str] = field(default_factory=list)
    concat: list[bool] = field(default_factory=list)
    size: int = 0

    def add(self, verb: str, target: str, text: str, concat: bool) -> tuple[str, ...]:
        """Take one line; () or the FAIL BATCH code and its context that ends the batch."""
        if target != self.target:
            return ("MULTILINE_INVALID_TARGET", self.target, target)
        if self.verb and verb != self.verb:
            return ("MULTILINE_INVALID",)
        if concat and not text:
            return ("MULTILINE_INVALID",)
        self.verb = verb
        self.size += len(text.encode())
        if self.size > MAX_BYTES:
            return ("MULTILINE_MAX_BYTES", str(MAX_BYTES))
        if len(self.lines) >= MAX_LINES:
            return ("MULTILINE_MAX_LINES", str(MAX_LINES))
        self.lines.append(text)
        self.concat.append(concat)
        return ()

    def text(self) -> str:
        return "\n".join(self.lines)

    def logical(self) -> str:
        """The text as one: concatenated lines joined without a break (for services,
        which read commands, e.g. a NickServ REGISTER with a password over 400 bytes)."""
        parts: list[str] = []
        for text, concat in zip(self.lines, self.concat, strict=True):
            parts.append(text if concat or not parts else "\n" + text)
        return "".join(parts)

    def flags(self) -> str:
        return "".join("1" if c else "0" for c in self.concat)
