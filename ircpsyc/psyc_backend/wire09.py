"""The PSYC 0.9 wire codec (psyced's default syntax), sans-IO.

psyced, the original PSYC server, speaks the older syntax on its PSYC port
(shared/psyc-notes.md 1.2, psyced `world/net/psyc/parse.i` and `render.i`)::

    circuit  = "." LF *packet                 ; a lone "." opens the circuit
    packet   = *routing-line LF content "." LF
             / "." LF                         ; no variables at all: a ping
    routing  = oper name TAB value LF *continuation
    content  = *( oper name TAB value LF *continuation ) [ method LF *body-line ]
    continuation = TAB text LF                ; another line of the value above
                 / oper TAB value LF          ; another element of the list above

Unlike 1.0 there is no length: a packet ends at the first line holding only
`.`, the empty line between routing and entity variables is mandatory, a value
spanning several lines continues on lines that start with TAB, and lists are
the first element on the variable's line plus one `:<TAB>element` line per
further element.  The reply tag is `_tag_reply` (PSYC 1.0 and `Packet` say
`_tag_relay`): the codec translates it both ways.

A body line holding only `.` cannot be sent (it would end the packet); like
psyced's renderer we change it to ` .`.  A state operation (1.0 only) is not
representable and is dropped.  A list whose only element is empty reads back
as an empty list.

`detect_syntax` tells the two syntaxes apart by the first line of a circuit,
as psyced's `startParse()` does: `.` is 0.9, `|` is 1.0.
"""

from __future__ import annotations

from typing import Final

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Modifier, Packet, Value
from ircpsyc.psyc_backend.wire import PacketError, is_list_name

__all__ = [
    "OPENING",
    "SYNTAX_09",
    "SYNTAX_10",
    "Parser09",
    "detect_syntax",
    "parse_one09",
    "render09",
]

SYNTAX_09: Final = "0.9"
SYNTAX_10: Final = "1.0"
OPENING: Final = b".\n"  # what a 0.9 circuit starts with (and a ping)

_ENCODING: Final = "utf-8"
_ERRORS: Final = "surrogateescape"
_OPERS: Final = ":=+-?@!"
_KW: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def detect_syntax(data: bytes) -> str | None:
    """The syntax a circuit speaks, from its first bytes; None while they are too few.

    Raises `PacketError` for anything else (psyced answers that with
    `_error_syntax_initialization` and closes)."""
    if len(data) < 2:
        if data and data[:1] not in (b".", b"|"):
            raise PacketError("circuit starts with neither '.' nor '|'")
        return None
    line = data[:3] if data[1:2] == b"\r" else data[:2]
    if line in (b".\n", b".\r\n"):
        return SYNTAX_09
    if line in (b"|\n", b"|\r\n"):
        return SYNTAX_10
    if len(line) == 2 and line[1:] == b"\r":
        return None
    raise PacketError("circuit starts with neither '.' nor '|'")


# --------------------------------------------------------------------------- render


def _valid_name(name: str) -> bool:
    return bool(name) and all(c in _KW for c in name)


def _continued(text: str) -> str:
    """A value's further lines start with TAB."""
    return text.replace("\n", "\n\t")


def _var_lines(op: str, name: str, value: Value, out: list[str]) -> None:
    if not _valid_name(name):
        raise PacketError(f"invalid variable name {name!r}")
    if is_list_name(name):
        items = value if isinstance(value, list) else [value]
        first, rest = (items[0], items[1:]) if items else ("", [])
        out.append(f"{op}{name}\t{_continued(first)}\n")
        out.extend(f"{op}\t{_continued(item)}\n" for item in rest)
        return
    text = " ".join(value) if isinstance(value, list) else value
    out.append(f"{op}{name}\t{_continued(text)}\n")


def _body(body: str) -> str:
    lines = body.split("\n")
    return "\n".join(" ." if line == "." else line for line in lines)


def render09(packet: Packet) -> bytes:
    """Render a packet in psyced's 0.9 syntax (`_tag_relay` goes out as `_tag_reply`)."""
    out: list[str] = []
    for name, value in packet.routing.items():
        if not name.startswith("_") or not _valid_name(name):
            raise PacketError(f"invalid routing variable name {name!r}")
        if "\n" in value:
            raise PacketError(f"routing variable {name} contains a line feed")
        out.append(f":{V.TAG_REPLY if name == V.TAG_RELAY else name}\t{value}\n")
    content: list[str] = []
    for name, entity_value in packet.vars.items():
        _var_lines(":", name, entity_value, content)
    for mod in packet.modifiers:
        if len(mod.op) != 1 or mod.op not in _OPERS:
            raise PacketError(f"invalid modifier operator {mod.op!r}")
        _var_lines(mod.op, mod.name, mod.value, content)
    if packet.method:
        if not _valid_name(packet.method):
            raise PacketError(f"invalid method {packet.method!r}")
        content.append(packet.method + "\n")
        if packet.body:
            content.append(_body(packet.body) + "\n")
    elif packet.body:
        raise PacketError("a packet with a body needs a method")
    if not out and not content:
        return OPENING  # a ping
    text = "".join(out) + "\n" + "".join(content) + ".\n"
    try:
        return text.encode(_ENCODING, _ERRORS)
    except UnicodeEncodeError as exc:
        raise PacketError(f"text cannot be encoded: {exc.reason}") from None


# ---------------------------------------------------------------------------- parse

_ROUTING: Final = 0
_ENTITY: Final = 1
_BODY: Final = 2


class Parser09:
    """An incremental PSYC 0.9 parser: feed it bytes, get back complete packets.

    The circuit's opening `.` comes out as an empty packet (a ping), so the
    caller just ignores empty packets.  Limits are checked as bytes arrive; after
    a `PacketError` the parser stays failed (the circuit has to close).
    """

    __slots__ = (
        "_body",
        "_buf",
        "_error",
        "_last",
        "_method",
        "_mods",
        "_nmods",
        "_nrouting",
        "_phase",
        "_rops",
        "_routing",
        "_size",
        "_vars",
        "circuit_state",
        "max_modifiers",
        "max_name",
        "max_packet",
        "max_routing_lines",
        "state_routing",
        "state_vars",
    )

    def __init__(
        self,
        *,
        max_packet: int = 1 << 20,
        max_routing_lines: int = 64,
        max_modifiers: int = 256,
        max_name: int = 64,
        circuit_state: bool = False,
    ) -> None:
        self.max_packet = max_packet
        # psyced's `pvars` (parse.i): with `circuit_state`, `=` assigns a variable for
        # the rest of the circuit (an empty value unsets it), `+` adds to such a list,
        # `-` takes from it (or unsets it), and every later packet carries them unless
        # it sets them itself with `:`; `?` is ignored.  Without, modifiers stay in
        # `Packet.modifiers` (the codec's round trip).
        self.circuit_state = circuit_state
        self.state_routing: dict[str, str] = {}
        self.state_vars: dict[str, Value] = {}
        self.max_routing_lines = max_routing_lines
        self.max_modifiers = max_modifiers
        self.max_name = max_name
        self._buf = bytearray()
        self._error: PacketError | None = None
        self._reset()

    def _reset(self) -> None:
        self._phase = _ROUTING
        self._routing: dict[str, str] = {}
        self._vars: dict[str, Value] = {}
        self._mods: list[Modifier] = []
        self._method = ""
        self._body: list[str] = []
        self._rops: list[tuple[str, str]] = []  # routing modifiers other than `:`
        self._nmods = 0
        self._nrouting = 0
        self._size = 0  # bytes of the current packet so far
        # What a continuation line extends: ("r", name) / ("v", name) / ("m", index).
        self._last: tuple[str, str, int] | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet part of a returned packet."""
        return self._size + len(self._buf)

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; return every packet completed by them, in order."""
        if self._error is not None:
            raise PacketError(f"parser failed earlier: {self._error.reason}")
        buf = self._buf
        buf += data
        packets: list[Packet] = []
        pos = 0
        try:
            while True:
                lf = buf.find(b"\n", pos)
                if lf < 0:
                    break
                self._size += lf + 1 - pos
                if self._size > self.max_packet:
                    raise PacketError(f"packet larger than {self.max_packet} bytes")
                self._line(buf[pos:lf].decode(_ENCODING, _ERRORS), packets)
                pos = lf + 1
            if self._size + len(buf) - pos > self.max_packet:
                raise PacketError(f"packet larger than {self.max_packet} bytes")
        except PacketError as exc:
            exc.packets = packets
            self._error = exc
            del buf[:]
            raise
        del buf[:pos]
        return packets

    def _finish(self, packets: list[Packet]) -> None:
        for name, value in self._vars.items():
            if value == [""]:
                self._vars[name] = []
        for i, mod in enumerate(self._mods):
            if mod.value == [""]:
                self._mods[i] = Modifier(mod.op, mod.name, [])
        routing, vars, mods = self._routing, self._vars, self._mods
        if self.circuit_state:
            routing, vars, mods = self._stateful()
        packets.append(Packet(self._method, routing, vars, "\n".join(self._body), mods))
        self._reset()

    def _stateful(self) -> tuple[dict[str, str], dict[str, Value], list[Modifier]]:
        """Apply this packet's modifiers to the circuit's state; the packet with it."""
        state = self.state_routing
        for op, name in self._rops:
            value = self._routing.pop(name, "")
            if op == "=" and value:
                state[name] = value
            elif op in "=-":
                state.pop(name, None)
            elif op == "+":
                state[name] = f"{state[name]} {value}" if state.get(name) else value
        kept = self.state_vars
        for mod in self._mods:
            name, given = mod.name, mod.value
            items = given if isinstance(given, list) else [given]
            had = kept.get(name)
            if mod.op == "=":
                if not given:  # "" or []: unset
                    kept.pop(name, None)
                else:
                    kept[name] = given
            elif mod.op == "+":
                before = had if isinstance(had, list) else [had] if had else []
                kept[name] = [*before, *items]
            elif mod.op == "-":
                if not given or had == given:
                    kept.pop(name, None)
                elif isinstance(had, list):
                    kept[name] = [x for x in had if x not in items]
        if self._rops or self._mods:  # changed: still within one packet's bounds?
            if len(state) > self.max_routing_lines or len(kept) > self.max_modifiers:
                raise PacketError("too many variables kept for the circuit")
            size = sum(len(k) + len(v) for k, v in state.items()) + sum(
                len(k) + (sum(map(len, v)) if isinstance(v, list) else len(v))
                for k, v in kept.items()
            )
            if size > self.max_packet:
                raise PacketError(f"variables kept for the circuit exceed {self.max_packet} bytes")
        return {**state, **self._routing}, {**kept, **self._vars}, []

    def _line(self, line: str, packets: list[Packet]) -> None:
        phase = self._phase
        if line == ".":
            self._finish(packets)
            return
        if phase == _BODY:
            self._body.append(line)
            return
        if not line:
            if phase == _ROUTING:
                self._phase = _ENTITY
                self._last = None
                return
            raise PacketError("empty line among the entity variables")
        c = line[0]
        if c in "\t ":
            self._continue(line[1:])
            return
        if c in _OPERS:
            name, tab, value = line[1:].partition("\t")
            if not tab:
                raise PacketError("variable name must be followed by TAB")
            if not name:
                self._append(value)
                return
            if not _valid_name(name):
                raise PacketError(f"invalid variable name {name[:40]!r}")
            if len(name) > self.max_name:
                raise PacketError(f"variable name longer than {self.max_name}")
            if phase == _ROUTING:
                self._add_routing(name, value)
                if c != ":" and self.circuit_state:
                    self._rops.append((c, name))
            else:
                self._add_entity(c, name, value)
            return
        if phase == _ROUTING:
            raise PacketError("routing variables must be followed by an empty line")
        if not _valid_name(line):
            raise PacketError(f"invalid method line {line[:40]!r}")
        if len(line) > self.max_name:
            raise PacketError(f"method name longer than {self.max_name}")
        self._method = line
        self._phase = _BODY

    def _add_routing(self, name: str, value: str) -> None:
        if name[0] != "_":
            raise PacketError("routing variable name must start with '_'")
        self._nrouting += 1
        if self._nrouting > self.max_routing_lines:
            raise PacketError(f"more than {self.max_routing_lines} routing variables")
        if name == V.TAG_REPLY:
            name = V.TAG_RELAY
        self._routing[name] = value
        self._last = ("r", name, 0)

    def _count(self) -> None:
        self._nmods += 1
        if self._nmods > self.max_modifiers:
            raise PacketError(f"more than {self.max_modifiers} variables")

    def _add_entity(self, op: str, name: str, value: str) -> None:
        self._count()
        item: Value = [value] if is_list_name(name) else value
        if op == ":":
            self._vars[name] = item
            self._last = ("v", name, 0)
        else:
            self._mods.append(Modifier(op, name, item))
            self._last = ("m", name, len(self._mods) - 1)

    def _continue(self, text: str) -> None:
        """A TAB line: the value above goes on with a line feed."""
        last = self._last
        if last is None:
            raise PacketError("continuation line without a variable before it")
        kind, name, index = last
        if kind == "r":
            raise PacketError("routing variable values cannot span lines")
        value = self._vars[name] if kind == "v" else self._mods[index].value
        if isinstance(value, list):
            value[-1] += "\n" + text
        else:
            self._set(kind, name, index, value + "\n" + text)

    def _append(self, text: str) -> None:
        """An `oper TAB value` line with no name: one more element of the list above."""
        last = self._last
        if last is None:
            raise PacketError("list element without a variable before it")
        self._count()
        kind, name, index = last
        if kind == "r":  # psyced's `_understand_modules` lists: kept as one string
            self._routing[name] += " " + text
            return
        value = self._vars[name] if kind == "v" else self._mods[index].value
        if isinstance(value, list):
            value.append(text)
        else:
            self._set(kind, name, index, [value, text])

    def _set(self, kind: str, name: str, index: int, value: Value) -> None:
        if kind == "v":
            self._vars[name] = value
        else:
            mod = self._mods[index]
            self._mods[index] = Modifier(mod.op, mod.name, value)


def parse_one09(data: bytes, **limits: int) -> Packet:
    """Parse bytes holding exactly one complete 0.9 packet (and nothing else)."""
    parser = Parser09()
    for name, limit in limits.items():  # max_packet, max_name, ...
        setattr(parser, name, limit)
    packets = parser.feed(data)
    if len(packets) != 1:
        raise PacketError(f"expected one packet, got {len(packets)}")
    if parser.buffered:
        raise PacketError("trailing bytes after the packet")
    return packets[0]
