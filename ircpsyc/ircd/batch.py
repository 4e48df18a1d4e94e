"""Batches (IRCv3 batch) of stored lines: history replies, replay on JOIN, the away log.

Stored events are packets as the place cast them, so they are rendered by the
same functions as live lines (`ircpsyc.ircd.client`), with the session's
capability set; inside a batch each line gets the `batch` tag, and its
`time` and `msgid` tags are the original ones.  Clients without batch and
server-time get `plain` text lines instead, marked with the time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ircpsyc.ircd import caps as C
from ircpsyc.ircd.client import (
    render_join,
    render_kick,
    render_message,
    render_mode,
    render_nick,
    render_part,
    render_quit,
    render_topic,
)
from ircpsyc.ircd.lines import add_tag, line
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Dispatch, Packet
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    from ircpsyc.ircd.session import Session

CHATHISTORY_BATCH = C.CHATHISTORY_BATCH
TARGETS_BATCH = "draft/chathistory-targets"

_RENDER = Dispatch(
    {
        V.MESSAGE: render_message,
        V.NOTICE_PLACE_ENTER: render_join,
        V.NOTICE_PLACE_LEAVE: render_part,
        V.NOTICE_PLACE_LEAVE_DISCONNECT: render_quit,
        V.NOTICE_PLACE_LEAVE_KICK: render_kick,
        V.NOTICE_PLACE_NICK: render_nick,
        V.NOTICE_PLACE_TOPIC: render_topic,
        V.NOTICE_PLACE_MODE: render_mode,
    }
)


def render(packet: Packet, fmt: int) -> bytes:
    """One stored event as the IRC line a client with render key `fmt` would have seen."""
    renderer = _RENDER.lookup(packet.method)
    return renderer(packet, fmt) if renderer is not None else b""


def can_batch(session: Session) -> bool:
    """Whether the session can tell replayed lines from live ones (batch + server-time)."""
    return C.BATCH in session.caps and C.SERVER_TIME in session.caps


def send_batch(session: Session, kind: str, params: Iterable[str], lines: Iterable[bytes]) -> None:
    """Send `lines` (already rendered) inside one batch; bare when batch is not on."""
    if C.BATCH not in session.caps:
        for data in lines:
            session.send(data)
        return
    core = session.core
    ref = core.new_batch_id()
    tag = "batch=" + ref
    out = [line(core.name, "BATCH", "+" + ref, kind, *params)]
    for data in lines:
        if not data:
            continue
        if data.count(b"\n") > 1:  # several lines (a multiline message): tag each
            out.extend(add_tag(one + b"\n", tag) for one in data.split(b"\n")[:-1])
        else:
            out.append(add_tag(data, tag))
    out.append(line(core.name, "BATCH", "-" + ref))
    for data in out:
        session.send(data)


def send_packets(session: Session, target: str, packets: Iterable[Packet]) -> None:
    """A `chathistory` batch for `target` with these stored packets (a channel's
    lines said before a RENAME show its current name)."""
    fmt = session.fmt
    if target.startswith("#"):
        packets = (_named(p, target) for p in packets)
    send_batch(session, CHATHISTORY_BATCH, [target], (render(p, fmt) for p in packets))


def _named(packet: Packet, channel: str) -> Packet:
    said = packet.vars.get(V.NICK_PLACE)
    if not isinstance(said, str) or casefold(said) == casefold(channel):
        return packet
    vars = {**packet.vars, V.NICK_PLACE: channel}
    return Packet(packet.method, packet.routing, vars, packet.body)


def when(ms: int) -> str:
    """A short UTC time for plain-text replays: 2026-11-21 21:03 UTC."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


# Lines older than this get the date too in `playback`.
PLAYBACK_DATE_AFTER_MS = 86_400_000


def playback(packet: Packet, stamp: int, now_ms: int) -> Packet:
    """A stored message for a client without batch and server-time, as ZNC plays it
    back: the same line from the same sender, the UTC time put before the text
    (`[14:05] hello`; with the date when it is older than a day)."""
    moment = time.gmtime(stamp / 1000)
    old = now_ms - stamp > PLAYBACK_DATE_AFTER_MS
    mark = time.strftime("[%Y-%m-%d %H:%M] " if old else "[%H:%M] ", moment)
    body = packet.body
    action = body.startswith("\x01ACTION ")
    body = "\x01ACTION " + mark + body[8:] if action else mark + body
    return Packet(packet.method, {}, packet.vars, body)


def plain(packet: Packet, stamp: int, where: str = "") -> str:
    """A stored message as one line of text: "[time] #chan <nick> text"."""
    nick = packet.get(V.NICK) or packet.get(V.PREFIX).split("!", 1)[0]
    body = packet.body
    if packet.method.endswith(V.NOTICE):
        said = f"-{nick}- {body}"
    elif body.startswith("\x01ACTION ") or body == "\x01ACTION\x01":
        said = f"* {nick} {body[8:].rstrip(chr(1))}"
    else:
        said = f"<{nick}> {body}"
    prefix = f"[{when(stamp)}] "
    return prefix + (f"{where} " if where else "") + said
