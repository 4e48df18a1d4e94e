"""One IRC connection, sans-IO: lines in, bytes out through a sink.

The session owns what belongs to a connection (registration state, caps,
labels, flood bucket, ping timers); the person it speaks for is a `Client`.
Time is passed in, so timeouts and fake lag are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, NamedTuple

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import add_tag, line, parse
from ircpsyc.ircd.ports import Sink
from ircpsyc.persons.person import EMPTY

if TYPE_CHECKING:
    from ircpsyc.ircd.client import Client
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.ircd.multiline import Multiline
    from ircpsyc.ircd.sasl_state import SaslState

MAX_TAGS_CLIENT = 4094  # bytes of client tag data (IRCv3 message-tags)
MAX_TAGS_TOTAL = 8191
NO_CAPS: frozenset[str] = frozenset()  # a session's capabilities before CAP REQ


def _command_of(body: bytes) -> str:
    """The command of a raw line (without tags), for a FAIL about the line itself."""
    words = body.split()
    if words and words[0][:1] == b":":
        words = words[1:]
    word = words[0].decode("ascii", "replace").upper() if words else ""
    return word if word.isalpha() else "*"


class Traffic(NamedTuple):
    """What one connection has carried (STATS l): its send queue and both directions."""

    sendq: int = 0  # bytes written but not yet taken by the socket
    lines_out: int = 0
    bytes_out: int = 0
    lines_in: int = 0
    bytes_in: int = 0


class Session:
    """Connection state and the command loop for one client socket."""

    __slots__ = (
        "account",
        "away",
        "away_at",
        "batch_label",
        "cap_negotiating",
        "cap_version",
        "caps",
        "certfp",
        "client",
        "closed",
        "connected_at",
        "core",
        "deferred",
        "device",
        "fmt",
        "heard",
        "host",
        "ip",
        "label",
        "last_recv",
        "last_refill",
        "metadata_subs",
        "multiline",
        "nick",
        "nick_refused",
        "password",
        "ping_sent",
        "pre_metadata",
        "rb",
        "realname",
        "registered",
        "sasl",
        "sink",
        "tls",
        "tokens",
        "user",
    )

    def __init__(self, core: IRCServer, sink: Sink, ip: str, tls: bool, now: float) -> None:
        self.core = core
        self.sink = sink
        self.ip = ip
        self.host = ip
        self.tls = tls
        self.certfp = ""
        self.registered = False
        self.closed = False
        self.nick = ""
        self.nick_refused = ""  # the last NICK refused before registration (REGISTER *)
        self.user = ""
        self.realname = ""
        self.password = ""
        self.caps: AbstractSet[str] = NO_CAPS  # shared until CAP: no set per idle client
        self.cap_version = 0
        self.cap_negotiating = False
        self.fmt = 0
        self.connected_at = now  # on the adapter's clock (monotonic), like `tick`'s now
        self.last_recv = now
        self.heard = False  # a line came in (first_line_timeout)
        self.ping_sent = 0.0
        # A full bucket: the configured int (a small int is shared), a float once used.
        self.tokens: float = core.config.limits.flood_burst
        self.last_refill = now
        self.client: Client | None = None
        self.account = ""  # logged in before registration (SASL, REGISTER); then Client.account
        self.sasl: SaslState | None = None
        self.rb: list[bytes] | None = None
        self.label = ""
        self.deferred = False  # the command being handled is answered later (`later`)
        self.multiline: Multiline | None = None  # a client batch being collected
        self.batch_label = ""  # the label of the open client batch: its end is answered
        # This connection's own AWAY (set before registration too, draft/pre-away); the
        # person is away only while every session is (`Client.aggregate_away`).
        self.away = ""
        self.away_at = 0.0  # when it was set: the newest message is the person's
        self.device = ""  # the client id of `account@device` logins ("" for none)
        # Metadata keys subscribed to, in order, and METADATA * SET before registration:
        # the shared EMPTY until the first (`own`).
        self.metadata_subs: dict[str, None] = EMPTY
        self.pre_metadata: dict[str, str] = EMPTY

    # -- output

    def send(self, data: bytes) -> None:
        if self.rb is not None:
            self.rb.append(data)
        elif not self.closed:
            self.sink.write(data)

    def reply(self, command: str, *params: str) -> None:
        self.send(line(self.core.name, command, *params))

    def numeric(self, numeric: str, *params: str) -> None:
        self.send(line(self.core.name, numeric, self.nick or "*", *params))

    def fail(self, command: str, code: str, *context_and_text: str) -> None:
        """IRCv3 standard reply FAIL."""
        self.send(line(self.core.name, "FAIL", command, code, *context_and_text))

    def note(self, text: str) -> None:
        self.send(line(self.core.name, "NOTICE", self.nick or "*", text))

    def traffic(self) -> Traffic:
        """The connection's counters, when its sink keeps them (the asyncio adapter)."""
        traffic = getattr(self.sink, "traffic", None)
        return traffic() if traffic is not None else Traffic()

    def set_caps(self, caps: AbstractSet[str]) -> None:
        self.caps = caps
        fmt = 0
        for cap in caps:
            fmt |= C.RENDER_BITS.get(cap, 0)
        self.fmt = fmt

    # -- flood control: a token bucket; the adapter delays lines while it is empty

    def flood_delay(self, now: float) -> float:
        """Seconds to wait before the next line may be processed (0: go ahead)."""
        limits = self.core.config.limits
        if limits.flood_rate <= 0 or (self.client is not None and self.client.is_oper):
            return 0.0
        self.tokens = min(
            float(limits.flood_burst), self.tokens + (now - self.last_refill) * limits.flood_rate
        )
        self.last_refill = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / limits.flood_rate

    # -- input

    def handle_line(self, raw: bytes, now: float) -> None:
        """Process one line (without CR LF)."""
        self.last_recv = now
        self.heard = True
        self.ping_sent = 0.0
        if not raw.strip():
            return
        text = raw.decode("utf-8", "replace") if not raw.isascii() else raw.decode("ascii")
        if raw[:1] == b"@":
            space = raw.find(b" ")
            tags_len = space if space > 0 else len(raw)
            # Client tag data is at most 4094 bytes between the '@' and the space.
            if tags_len - 1 > MAX_TAGS_CLIENT:
                self.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")
                return
            body = raw[tags_len + 1 :]
        else:
            body = raw
        if len(body) > 510:
            # RFC 1459: the part outside the tags is at most 510 bytes; cut the rest.
            cut = len(raw) - len(body) + 510
            text = raw[:cut].decode("utf-8", "replace")
        if self.core.config_utf8_only and not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                self.fail(_command_of(body), "INVALID_UTF8", "Message rejected: not valid UTF-8")
                return
        if "\0" in text:
            text = text.replace("\0", "")
        try:
            msg = parse(text)
        except (ValueError, IndexError):  # e.g. a line of tags and no command
            return
        if not msg.command:
            return
        command = msg.command  # upper case (parse)
        label = msg.tags.get("label", "") if msg.tags else ""
        if command == "BATCH" and msg.params:
            # A client batch (draft/multiline) is answered when it ends, with its label.
            if (
                msg.params[0].startswith("+")
                and msg.params[1:2] == [C.MULTILINE_BATCH]
                and C.MULTILINE in self.caps
                and self.multiline is None
            ):
                self.batch_label, label = label, ""
            elif msg.params[0].startswith("-") and self.batch_label:
                label, self.batch_label = self.batch_label, ""
        if label and C.LABELED_RESPONSE in self.caps:
            self.label = label
            self.rb = []
            try:
                self.core.dispatch(self, command, msg, now)
            finally:
                buffered, self.rb = self.rb, None
                self.label = ""
                if self.deferred:  # its answer will carry the label
                    self.deferred = False
                    for data in buffered:
                        self.sink.write(data)
                else:
                    self._flush_labeled(label, buffered)
        else:
            self.core.dispatch(self, command, msg, now)

    def later(self) -> Callable[[Callable[[], None]], None]:
        """Answer the command being handled later (it waits for another server).

        Returns `answer(reply)`: call it once with the code that sends the replies;
        they get the command's label (labeled-response), and the input of this
        connection waits until then, so later commands are answered after it."""
        label = self.label if self.rb is not None else ""
        self.deferred = bool(label)
        sink = self.sink
        hold = getattr(sink, "hold", None)
        release = getattr(sink, "release", None)
        if hold is not None:
            hold()
        answered = False

        def answer(reply: Callable[[], None]) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            try:
                if self.rb is not None or not label:  # still in the command, or no label
                    self.deferred = False
                    reply()
                else:
                    self.rb, self.label = [], label
                    try:
                        reply()
                    finally:
                        buffered, self.rb = self.rb, None
                        self.label = ""
                        if self.deferred:  # the reply waits again: its answer has the label
                            self.deferred = False
                            for data in buffered:
                                self.sink.write(data)
                        else:
                            self._flush_labeled(label, buffered)
            finally:
                if release is not None:
                    release()

        return answer

    @property
    def labeled(self) -> bool:
        """Whether the command being handled has a label (its replies are buffered)."""
        return self.rb is not None and bool(self.label)

    def capture(self, into: list[bytes], send: Callable[[], None]) -> None:
        """Run `send` with what it sends this session appended to `into` instead (a
        part of the later answer of a command: ircpsyc.ircd.place_answers)."""
        kept = self.rb
        self.rb = into
        try:
            send()
        finally:
            self.rb = kept

    def _flush_labeled(self, label: str, lines: list[bytes]) -> None:
        if self.closed:
            return
        tag = "label=" + label
        if not lines:
            self.sink.write(line(self.core.name, "ACK", tags=tag))
        elif len(lines) == 1:
            self.sink.write(add_tag(lines[0], tag))
        elif C.BATCH in self.caps:
            if _one_batch(lines):  # e.g. CHATHISTORY: the label goes on its BATCH +
                self.sink.write(add_tag(lines[0], tag) + b"".join(lines[1:]))
                return
            ref = self.core.new_batch_id()
            out = [line(self.core.name, "BATCH", "+" + ref, "labeled-response", tags=tag)]
            # Lines of a nested batch keep their own batch tag; its BATCH lines get ours.
            out.extend(data if _batched(data) else add_tag(data, "batch=" + ref) for data in lines)
            out.append(line(self.core.name, "BATCH", "-" + ref))
            self.sink.write(b"".join(out))
        else:
            self.sink.write(add_tag(lines[0], tag) + b"".join(lines[1:]))

    # -- timers

    def tick(self, now: float) -> None:
        """Registration timeout, keep-alive PING, ping timeout."""
        limits = self.core.config.limits
        if not self.registered:
            waited = now - self.connected_at
            # A connection that has not said a word gets a shorter time than one
            # that is registering (CAP negotiation, SASL, a password check).
            if waited > limits.registration_timeout or (
                not self.heard and waited > limits.first_line_timeout
            ):
                self.close("Registration timeout")
            return
        if self.ping_sent:
            if now - self.ping_sent > limits.ping_timeout:
                self.close(f"Ping timeout: {int(now - self.last_recv)} seconds")
        elif now - self.last_recv > limits.ping_interval:
            self.ping_sent = now
            self.send(line(None, "PING", self.core.name))

    def close(self, reason: str) -> None:
        """Say goodbye with ERROR, close the connection and leave the network."""
        if self.closed:
            return
        self.rb = None
        self.sink.write(line(None, "ERROR", f"Closing Link: {self.host} ({reason})"))
        self.closed = True
        self.sink.close()
        self.core.session_gone(self, reason)

    def lost(self, reason: str) -> None:
        """The transport went away under us."""
        if self.closed:
            return
        self.closed = True
        self.rb = None
        self.core.session_gone(self, reason)


def _batched(data: bytes) -> bool:
    """Whether a formatted line already carries a batch tag."""
    if not data.startswith(b"@"):
        return False
    tags = data[1 : data.find(b" ")]
    return tags.startswith(b"batch=") or b";batch=" in tags


def _one_batch(lines: list[bytes]) -> bool:
    """Whether the lines are exactly one batch: BATCH +ref, its lines, BATCH -ref."""
    first = lines[0].split(b" ", 3)
    if len(first) < 3 or first[1] != b"BATCH" or not first[2].startswith(b"+"):
        return False
    end = lines[-1].split(b" ", 3)
    if len(end) < 3 or end[1] != b"BATCH" or end[2].rstrip(b"\r\n") != b"-" + first[2][1:]:
        return False
    return all(_batched(data) for data in lines[1:-1])
