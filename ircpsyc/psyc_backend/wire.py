"""The PSYC 1.0 wire codec (libpsyc's syntax), sans-IO.

`render()` turns a `Packet` into bytes and `Parser.feed()` turns bytes back into
packets; neither touches a socket, so server links, tests and benchmarks all run
the same code.  The grammar (see shared/psyc-notes.md 1.1 and libpsyc's
`src/parse.c`)::

    packet   = *routing-line [ content-length ] LF content "|" LF
             / *routing-line "|" LF                  ; no content at all
    routing  = oper name TAB value LF                ; oper one of : = + - ?
    content  = [ ( "=" / "?" ) LF ]                  ; state reset / resync
               *( oper name ( TAB value / SP length TAB octets ) LF )
               [ method LF [ data LF ] ]

What we render:

* Routing lines always use `:`.  The routing operator is not kept when parsing
  (`Packet.routing` is a plain dict); `=`, `+`, `-` and `?` are accepted and
  read as `:` because we keep no routing state per circuit.
* Whenever a packet has content, its length is given, so the receiver never
  scans a body for the terminator.  A packet without content (no state
  operation, variables or method) has no length line, exactly like libpsyc
  renders it: routing lines then `|` (just `|` for an empty packet, a ping).
* Entity values that contain LF or are longer than `LONG_VALUE` characters use
  the length-prefixed form `:_name SP LEN TAB value`.
* Variables whose name is `_list` or starts with `_list_` carry lists of
  strings in libpsyc's list syntax: `|LEN elem` for elements containing `|`
  or LF, `| elem` for the others, a bare `|` for an empty element.  Element
  types (`|=_type elem`, a default type before the first `|`) are accepted and
  dropped, since `Packet` holds plain strings.  `_dict*` values are kept as
  raw strings and not interpreted.

Strings are UTF-8; decoding uses `surrogateescape`, so arbitrary bytes in a
value or body survive a parse/render round trip.
"""

from __future__ import annotations

import re
from typing import Final, NoReturn

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Modifier, Packet, Value

__all__ = [
    "LONG_VALUE",
    "MAX_NAME_LIMIT",
    "PacketError",
    "Parser",
    "is_list_name",
    "parse_list",
    "parse_one",
    "render",
    "render_list",
]

_ENCODING: Final = "utf-8"
_ERRORS: Final = "surrogateescape"

# Values longer than this (in characters) are sent length-prefixed even without
# a LF, so a receiver can skip or copy them without scanning.  libpsyc refuses
# unframed modifiers larger than 256 bytes by default (PSYC_MODIFIER_SIZE_MAX).
LONG_VALUE: Final = 200

# Byte values used by the parser (indexing a bytearray yields ints).
_LF: Final = 0x0A
_TAB: Final = 0x09
_SP: Final = 0x20
_PIPE: Final = 0x7C
_EQUALS: Final = 0x3D
_COLON: Final = 0x3A
_UNDERSCORE: Final = 0x5F

_OPERS: Final = frozenset(b":=+-?@!")
_ROUTING_OPERS: Final = frozenset(b":=+-?")
_STATE_OPS: Final = frozenset(b"=?")
_DIGITS: Final = frozenset(b"0123456789")
_KW: Final = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")

# A content length or value length with more digits than this is refused
# outright; the size limits catch everything smaller.
_MAX_DIGITS: Final = 10

# Fast-path patterns; when one fails, a slow diagnosis decides whether the
# input is merely incomplete or wrong, and says why.
# Names are matched up to MAX_NAME_LIMIT bytes so a huge run of keyword bytes is
# not scanned to its end; the per-parser max_name is checked on the result.
MAX_NAME_LIMIT: Final = 256
_ROUTING_HEAD: Final = re.compile(rb"[:=+\-?](_[A-Za-z0-9_]{0,255})\t")
_ROUTING_LINE: Final = re.compile(rb"[:=+\-?](_[A-Za-z0-9_]{0,255})\t([^\n]*)\n")
_ENTITY_LINE: Final = re.compile(rb"([:=+\-?@!])([A-Za-z0-9_]{1,256})\t([^\n]*)\n")
_ENTITY_HEAD: Final = re.compile(rb"([:=+\-?@!])([A-Za-z0-9_]{1,256})(?:\t| ([0-9]{1,10})\t)")
_METHOD_LINE: Final = re.compile(rb"([A-Za-z0-9_]{1,256})\n")

_KEYWORD: Final = re.compile(r"[A-Za-z0-9_]+")
_ROUTING_NAME: Final = re.compile(r"_[A-Za-z0-9_]*")


class PacketError(Exception):
    """A packet that cannot be rendered or parsed; `reason` says why.

    When raised by `Parser.feed`, `packets` holds the packets that were complete
    before the error in the same call, so a link may still deliver them before it
    closes.
    """

    def __init__(self, reason: str, packets: list[Packet] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.packets: list[Packet] = packets if packets is not None else []


def is_list_name(name: str) -> bool:
    """Whether a variable carries a list: `_list` itself or any `_list_*` below it."""
    return name.startswith(V.LIST) and (len(name) == 5 or name[5] == "_")


# --------------------------------------------------------------------------- render

# Names seen valid before; most packets reuse a handful of names, so checking a
# set beats running the pattern every time.  Bounded so hostile input cannot
# grow it without limit.
_good_keywords: set[str] = set()
_good_routing: set[str] = set()
_NAME_CACHE_MAX: Final = 4096


def _check_keyword(name: str, what: str) -> None:
    if name in _good_keywords:
        return
    if _KEYWORD.fullmatch(name) is None:
        raise PacketError(f"invalid {what} {name!r}")
    if len(_good_keywords) < _NAME_CACHE_MAX:
        _good_keywords.add(name)


def _check_routing_name(name: str) -> None:
    if name in _good_routing:
        return
    if _ROUTING_NAME.fullmatch(name) is None:
        raise PacketError(f"invalid routing variable name {name!r}")
    if len(_good_routing) < _NAME_CACHE_MAX:
        _good_routing.add(name)


def _byte_len(text: str) -> int:
    return len(text.encode(_ENCODING, _ERRORS))


def render_list(items: list[str]) -> str:
    """Render list elements in libpsyc's list syntax (`| a|5 b|c d|` ...)."""
    parts: list[str] = []
    for item in items:
        if not item:
            parts.append("|")
        elif "|" in item or "\n" in item:
            # The plain form ends at the next `|`, so such elements need a length.
            parts.append(f"|{_byte_len(item)} {item}")
        else:
            parts.append("| " + item)
    return "".join(parts)


def _value_text(name: str, value: Value) -> str:
    if is_list_name(name):
        # A plain string under a list name is one element, the same thing
        # `Packet.get_list` makes of it locally.
        return render_list(value if isinstance(value, list) else [value])
    if isinstance(value, list):
        # Likewise a list under a non-list name reads as `Packet.get` shows it.
        return " ".join(value)
    return value


def _entity_line(op: str, name: str, value: Value) -> str:
    _check_keyword(name, "variable name")
    text = _value_text(name, value)
    if "\n" in text or len(text) > LONG_VALUE:
        return f"{op}{name} {_byte_len(text)}\t{text}\n"
    return f"{op}{name}\t{text}\n"


def _render_content(packet: Packet) -> str:
    parts: list[str] = []
    state_op = packet.state_op
    if state_op:
        if state_op not in ("=", "?"):
            raise PacketError(f"invalid state operation {state_op!r}")
        parts.append(state_op + "\n")
    for name, value in packet.vars.items():
        parts.append(_entity_line(":", name, value))
    for mod in packet.modifiers:
        if len(mod.op) != 1 or mod.op not in ":=+-?@!":
            raise PacketError(f"invalid modifier operator {mod.op!r}")
        parts.append(_entity_line(mod.op, mod.name, mod.value))
    method = packet.method
    if method:
        _check_keyword(method, "method")
        parts.append(method + "\n")
        if packet.body:
            parts.append(packet.body + "\n")
    elif packet.body:
        raise PacketError("a packet with a body needs a method")
    return "".join(parts)


def render(packet: Packet) -> bytes:
    """Render a packet to PSYC 1.0 bytes (always length-framed when it has content)."""
    try:
        routing = ""
        if packet.routing:
            lines: list[str] = []
            for name, value in packet.routing.items():
                _check_routing_name(name)
                if "\n" in value:
                    raise PacketError(f"routing variable {name} contains a line feed")
                lines.append(f":{name}\t{value}\n")
            routing = "".join(lines)
        content = _render_content(packet).encode(_ENCODING, _ERRORS)
        head = routing.encode(_ENCODING, _ERRORS)
    except UnicodeEncodeError as exc:
        raise PacketError(f"text cannot be encoded: {exc.reason}") from None
    if not content:
        return head + b"|\n"
    return b"%s%d\n%s|\n" % (head, len(content), content)


# ---------------------------------------------------------------------------- parse


def _decode(raw: bytes | bytearray) -> str:
    return raw.decode(_ENCODING, _ERRORS)


def parse_list(raw: bytes | bytearray) -> list[str]:
    """Parse a list value (`[type] *("|" elem)`) into its element strings.

    Element types are dropped.  Like libpsyc, an element length that runs past
    the end of the value takes what remains (libpsyc's own test packet
    `02-list.psyc` relies on that).
    """
    n = len(raw)
    i = 0
    while i < n and raw[i] in _KW:  # optional default type
        i += 1
    items: list[str] = []
    if i >= n:
        return items
    while True:
        if raw[i] != _PIPE:
            raise PacketError("list element does not start with '|'")
        i += 1
        if i >= n:  # a trailing `|` is a last, empty element
            items.append("")
            return items
        if raw[i] == _EQUALS:  # `|=_type ...`
            j = i + 1
            while j < n and raw[j] in _KW:
                j += 1
            if j == i + 1:
                raise PacketError("list element type is not a keyword")
            i = j
            if i >= n:
                items.append("")
                return items
            c = raw[i]
            if c == _PIPE:
                items.append("")
                continue
            if c == _SP:
                end = raw.find(b"|", i + 1)
                end = n if end < 0 else end
                items.append(_decode(raw[i + 1 : end]))
                if end >= n:
                    return items
                i = end
                continue
            if c != _COLON:
                raise PacketError("bad character after list element type")
            i += 1
        j = i
        while j < n and raw[j] in _DIGITS:
            j += 1
        if j - i > _MAX_DIGITS:
            raise PacketError("list element length too long")
        length = int(raw[i:j]) if j > i else -1
        i = j
        if i >= n or raw[i] == _PIPE:
            if length > 0:
                raise PacketError("list element length without a value")
            items.append("")
            if i >= n:
                return items
            continue
        if raw[i] != _SP:
            raise PacketError("list element value must follow a space")
        i += 1
        if length < 0:
            end = raw.find(b"|", i)
            end = n if end < 0 else end
        else:
            end = min(i + length, n)
        items.append(_decode(raw[i:end]))
        if end >= n:
            return items
        i = end


# Parser phases.
_ROUTING: Final = 0  # reading routing lines, the length line or the end
_FRAMED: Final = 1  # content length known: waiting for all of it
_CONTENT: Final = 2  # no length: reading content lines one by one
_DATA: Final = 3  # no length: scanning the body for LF "|" LF


class Parser:
    """An incremental PSYC 1.0 parser: feed it bytes, get back complete packets.

    Limits are checked while bytes arrive, so an endless line or an oversized
    length fails as soon as it passes a limit instead of being buffered.  After a
    `PacketError` the parser is unusable (every later `feed` raises again): the
    stream position is lost, so the link has to close.
    """

    __slots__ = (
        "_buf",
        "_content_end",
        V.ERROR,
        "_first",
        "_method",
        "_mods",
        "_nmods",
        "_nrouting",
        "_phase",
        "_pos",
        "_routing",
        "_scan",
        "_start",
        "_state_op",
        "_vars",
        "max_modifiers",
        "max_name",
        "max_packet",
        "max_routing_lines",
    )

    def __init__(
        self,
        *,
        max_packet: int = 1 << 20,
        max_routing_lines: int = 256,
        max_modifiers: int = 256,
        max_name: int = 64,
    ) -> None:
        if not 1 <= max_name <= MAX_NAME_LIMIT:
            raise ValueError(f"max_name must be between 1 and {MAX_NAME_LIMIT}")
        self.max_packet = max_packet
        self.max_routing_lines = max_routing_lines
        self.max_modifiers = max_modifiers
        self.max_name = max_name
        self._buf = bytearray()
        self._error: PacketError | None = None
        # Offsets into _buf: the current packet's start, the next unparsed line,
        # where a search for LF / terminator may resume, the end of framed content.
        self._start = 0
        self._pos = 0
        self._scan = 0
        self._content_end = 0
        self._reset()

    def _reset(self) -> None:
        self._phase = _ROUTING
        self._routing: dict[str, str] = {}
        self._vars: dict[str, Value] = {}
        self._mods: list[Modifier] = []
        self._nmods = 0
        self._nrouting = 0
        self._state_op = ""
        self._method = ""
        self._first = True  # at the first content line (where a state op may be)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a packet."""
        return len(self._buf) - self._start

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; return every packet completed by them, in order."""
        if self._error is not None:
            raise PacketError(f"parser failed earlier: {self._error.reason}")
        buf = self._buf
        buf += data
        packets: list[Packet] = []
        try:
            while self._step(packets):
                pass
            if len(buf) - self._start > self.max_packet:
                raise PacketError(f"packet larger than {self.max_packet} bytes")
        except PacketError as exc:
            exc.packets = packets
            self._error = exc
            del buf[:]
            raise
        # Drop consumed bytes once per feed, not once per packet.
        start = self._start
        if start:
            del buf[:start]
            self._start = 0
            self._pos -= start
            self._scan = max(0, self._scan - start)
            self._content_end -= start
        return packets

    # Each _step advances through at least one line and returns True, or returns
    # False when it needs more bytes.

    def _step(self, packets: list[Packet]) -> bool:
        phase = self._phase
        if phase == _ROUTING:
            return self._step_routing(packets)
        if phase == _FRAMED:
            return self._step_framed(packets)
        if phase == _CONTENT:
            return self._content(len(self._buf), False, packets)
        return self._step_data(packets)

    def _finish(self, packets: list[Packet], end: int, body: str = "") -> bool:
        if end - self._start > self.max_packet:
            raise PacketError(f"packet larger than {self.max_packet} bytes")
        packets.append(
            Packet(self._method, self._routing, self._vars, body, self._mods, self._state_op)
        )
        self._start = self._pos = self._scan = end
        self._reset()
        return True

    def _limit(self) -> int:
        """The offset the current packet must end before."""
        return min(len(self._buf), self._start + self.max_packet)

    def _step_routing(self, packets: list[Packet]) -> bool:
        buf = self._buf
        pos = self._pos
        limit = self._limit()
        if self._scan <= pos:
            # Fast path: complete, valid lines, one regex match each.  Skipped
            # when the line is known to be unfinished (_scan past its start), so
            # a long line trickling in is not rescanned from its start each time.
            match = _ROUTING_LINE.match
            m = match(buf, pos, limit)
            while m is not None:
                self._add_routing(m.group(1), m.group(2))
                pos = m.end()
                m = match(buf, pos, limit)
            self._pos = pos
        end = len(buf)
        if pos >= end:
            return False
        c = buf[pos]
        if c in _OPERS:
            # An unfinished line, or one the fast path refused.
            lf = buf.find(b"\n", max(pos, self._scan), limit)
            if lf < 0:
                self._scan = end
                self._check_partial_routing(pos, end)
                return False
            m = _ROUTING_HEAD.match(buf, pos, lf)
            if m is None:
                self._bad_routing(pos, lf)
            self._add_routing(m.group(1), buf[m.end() : lf])
            self._pos = lf + 1
            return True
        if c in _DIGITS:
            lf = buf.find(b"\n", pos, min(end, pos + _MAX_DIGITS + 1))
            if lf < 0:
                if end - pos > _MAX_DIGITS:
                    raise PacketError("content length too long")
                for i in range(pos, end):
                    if buf[i] not in _DIGITS:
                        raise PacketError("content length must be followed by LF")
                return False
            digits = buf[pos:lf]
            if not digits.isdigit():
                raise PacketError("content length must be followed by LF")
            length = int(digits)
            self._pos = lf + 1
            self._content_end = lf + 1 + length
            if self._content_end + 2 - self._start > self.max_packet:
                raise PacketError(f"packet larger than {self.max_packet} bytes")
            self._phase = _FRAMED
            # Usually the whole packet is here already: go straight on.
            return self._step_framed(packets) or True
        if c == _LF:
            self._pos = pos + 1
            self._phase = _CONTENT
            return True
        if c == _PIPE:
            if pos + 1 >= end:
                return False
            if buf[pos + 1] != _LF:
                raise PacketError("'|' must be followed by LF")
            return self._finish(packets, pos + 2)
        raise PacketError(f"unexpected byte {c:#04x} in routing header")

    def _add_routing(self, name: bytes, raw: bytes | bytearray) -> None:
        if len(name) > self.max_name:
            raise PacketError(f"routing variable name longer than {self.max_name}")
        self._nrouting += 1
        if self._nrouting > self.max_routing_lines:
            raise PacketError(f"more than {self.max_routing_lines} routing variables")
        key = name.decode("ascii")
        if is_list_name(key):
            parse_list(raw)  # only validated: routing values stay strings
        self._routing[key] = raw.decode(_ENCODING, _ERRORS)

    def _add_entity(self, op: bytes, name: bytes, raw: bytes | bytearray) -> None:
        if len(name) > self.max_name:
            raise PacketError(f"variable name longer than {self.max_name}")
        self._nmods += 1
        if self._nmods > self.max_modifiers:
            raise PacketError(f"more than {self.max_modifiers} variables")
        key = name.decode("ascii")
        value = parse_list(raw) if is_list_name(key) else raw.decode(_ENCODING, _ERRORS)
        if op == b":":
            self._vars[key] = value
        else:
            self._mods.append(Modifier(op.decode("ascii"), key, value))

    def _kw_end(self, pos: int, end: int) -> int:
        """Where the run of keyword bytes from pos ends (looking a little past max_name)."""
        buf = self._buf
        stop = min(end, pos + self.max_name + 1)
        while pos < stop and buf[pos] in _KW:
            pos += 1
        return pos

    def _check_partial_routing(self, pos: int, end: int) -> None:
        """Refuse an unfinished routing line as soon as it cannot become valid."""
        buf = self._buf
        if buf[pos] not in _ROUTING_OPERS:
            raise PacketError(f"operator {chr(buf[pos])!r} not allowed in routing header")
        i = self._kw_end(pos + 1, end)
        if i - pos - 1 > self.max_name:
            raise PacketError(f"routing variable name longer than {self.max_name}")
        if pos + 1 < end and buf[pos + 1] != _UNDERSCORE:
            raise PacketError("routing variable name must start with '_'")
        if i < end and buf[i] != _TAB:
            self._bad_routing(pos, end)

    def _bad_routing(self, pos: int, end: int) -> NoReturn:
        """Raise the reason a complete routing line does not parse."""
        buf = self._buf
        if buf[pos] not in _ROUTING_OPERS:
            raise PacketError(f"operator {chr(buf[pos])!r} not allowed in routing header")
        i = self._kw_end(pos + 1, end)
        if i - pos - 1 > self.max_name:
            raise PacketError(f"routing variable name longer than {self.max_name}")
        if i == pos + 1 or buf[pos + 1] != _UNDERSCORE:
            raise PacketError("routing variable name must be '_' and keyword characters")
        if i < end and buf[i] == _SP:
            raise PacketError("length-prefixed values are not allowed in routing header")
        raise PacketError("routing variable name must be followed by TAB")

    def _step_framed(self, packets: list[Packet]) -> bool:
        buf = self._buf
        cend = self._content_end
        if len(buf) < cend + 2:
            return False
        if buf[cend] != _PIPE or buf[cend + 1] != _LF:
            raise PacketError("content length does not match the content")
        return self._content(cend, True, packets)

    def _content(self, end: int, framed: bool, packets: list[Packet]) -> bool:
        """Parse content lines in [pos, end).

        Framed (length known): all bytes are there, `end` is the end of the
        content and "|" LF follows it; running out before the packet is complete
        is an error.  Unframed: `end` is the end of the buffer; return False when
        more bytes are needed.
        """
        buf = self._buf
        pos = self._pos
        # Where the packet ends when the content ends here (after "|" LF).
        done = end + 2
        # Searches for LF stop at the size limit, so an endless line fails early.
        limit = end if framed else self._limit()
        if self._first:
            if pos >= end:
                if framed:
                    return self._finish(packets, done)
                return False
            c = buf[pos]
            if c in _OPERS:
                if pos + 1 >= end:
                    if framed:
                        raise PacketError("content ends in a lone operator")
                    return False
                if buf[pos + 1] == _LF:
                    if c not in _STATE_OPS:
                        raise PacketError(f"lone operator {chr(c)!r} is not a state operation")
                    self._state_op = chr(c)
                    pos += 2
            self._first = False
            self._pos = pos
        max_name = self.max_name
        line = _ENTITY_LINE.match
        while True:
            if pos >= end:
                if framed:  # content without a method
                    return self._finish(packets, done)
                return False
            c = buf[pos]
            if c in _OPERS:
                if self._scan <= pos:
                    # Fast path for a complete simple line (see _step_routing).
                    m = line(buf, pos, limit)
                    if m is not None:
                        self._add_entity(m.group(1), m.group(2), m.group(3))
                        pos = self._pos = m.end()
                        continue
                m = _ENTITY_HEAD.match(buf, pos, end)
                if m is None:
                    self._diagnose_entity(pos, end, framed)
                    return False
                vstart = m.end()
                digits = m.group(3)
                if digits is None:
                    lf = buf.find(b"\n", max(vstart, self._scan), limit)
                    if lf < 0:
                        if framed:
                            raise PacketError("variable line not ended by LF")
                        self._scan = end
                        return False
                    vend = lf
                else:
                    vend = vstart + int(digits)
                    if vend + 1 - self._start > self.max_packet:
                        raise PacketError(f"packet larger than {self.max_packet} bytes")
                    if vend >= end:
                        if framed:
                            raise PacketError("variable value runs past the content")
                        return False
                    if buf[vend] != _LF:
                        raise PacketError("variable value length is wrong (no LF after it)")
                self._add_entity(m.group(1), m.group(2), buf[vstart:vend])
                pos = self._pos = vend + 1
                continue
            if c in _KW:
                m = _METHOD_LINE.match(buf, pos, end)
                if m is None:
                    self._diagnose_method(pos, end, framed)
                    return False
                if m.end(1) - pos > max_name:
                    raise PacketError(f"method name longer than {max_name}")
                self._method = m.group(1).decode("ascii")
                pos = self._pos = m.end()
                if not framed:
                    self._phase = _DATA
                    self._scan = pos
                    return True
                # Framed: the rest of the content is the body plus its LF.
                if pos == end:
                    return self._finish(packets, done)
                # libpsyc refuses a lone LF here too: an empty body has no LF.
                if buf[end - 1] != _LF or pos == end - 1:
                    raise PacketError("content length does not match the body")
                return self._finish(packets, done, _decode(buf[pos : end - 1]))
            if c == _PIPE and not framed:
                if pos + 1 >= end:
                    return False
                if buf[pos + 1] != _LF:
                    raise PacketError("'|' must be followed by LF")
                return self._finish(packets, pos + 2)
            raise PacketError(f"unexpected byte {c:#04x} at start of content line")

    def _diagnose_entity(self, pos: int, end: int, framed: bool) -> None:
        """Raise why an entity line header does not parse, or return if it is incomplete."""
        buf = self._buf
        i = self._kw_end(pos + 1, end)
        if i - pos - 1 > self.max_name:
            raise PacketError(f"variable name longer than {self.max_name}")
        if i < end and i == pos + 1:
            raise PacketError("variable name missing after operator")
        if i < end:
            if buf[i] != _SP:
                raise PacketError("variable name must be followed by TAB or SP")
            j = i + 1
            while j < end and buf[j] in _DIGITS:
                j += 1
            if j - i - 1 > _MAX_DIGITS:
                raise PacketError("value length too long")
            if j < end:
                if j == i + 1:
                    raise PacketError("SP after variable name must be followed by a length")
                raise PacketError("value length must be followed by TAB")
        if framed:
            raise PacketError("variable line runs past the content")

    def _diagnose_method(self, pos: int, end: int, framed: bool) -> None:
        """Raise why a method line does not parse, or return if it is incomplete."""
        i = self._kw_end(pos, end)
        if i - pos > self.max_name:
            raise PacketError(f"method name longer than {self.max_name}")
        if i < end:
            raise PacketError("method name must be followed by LF")
        if framed:
            raise PacketError("method line runs past the content")

    def _step_data(self, packets: list[Packet]) -> bool:
        """Unframed body: it ends at the first LF "|" LF (or is empty if "|" LF comes first)."""
        buf = self._buf
        pos = self._pos
        end = len(buf)
        if end - pos < 2:
            return False
        if buf[pos] == _PIPE and buf[pos + 1] == _LF:
            return self._finish(packets, pos + 2)
        k = buf.find(b"\n|\n", max(pos, self._scan), self._limit())
        if k < 0:
            self._scan = max(pos, end - 2)
            return False
        return self._finish(packets, k + 3, _decode(buf[pos:k]))


def parse_one(data: bytes, **limits: int) -> Packet:
    """Parse bytes holding exactly one complete packet (and nothing else).

    `limits` are passed to `Parser` (max_packet, max_name, ...).
    """
    parser = Parser(**limits)
    packets = parser.feed(data)
    if not packets:
        raise PacketError("incomplete packet")
    if len(packets) > 1:
        raise PacketError(f"expected one packet, got {len(packets)}")
    if parser.buffered:
        raise PacketError("trailing bytes after the packet")
    return packets[0]
