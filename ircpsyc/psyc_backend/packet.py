"""The in-memory PSYC packet.

A `Packet` is what every entity hands the router: routing variables (`_source`,
`_target`, `_context`, `_source_relay`, `_tag`, `_counter`, ...), entity variables
with `:` (this packet only) semantics, optional persistent modifiers, the method
and the body.  Local delivery passes the same object to every recipient, so a
packet is treated as read-only once it has been sent; `render_cache` lets each
front-end keep the bytes it rendered for one capability set, so a channel line is
formatted once per distinct set and not once per member.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ircpsyc.psyc_backend import vocabulary as V

# Entity variable values: a string, or a list of strings for `_list_*` names.
Value = str | list[str]

# Routing variables we understand (Spec:Routing-Variable; psyced's table).
ROUTING_VARS = frozenset(
    {
        V.SOURCE,
        V.TARGET,
        V.CONTEXT,
        V.SOURCE_RELAY,
        V.TARGET_RELAY,
        V.SOURCE_IDENTITY,
        V.TAG,
        V.TAG_RELAY,
        V.COUNTER,
        V.FRAGMENT,
        V.AMOUNT_FRAGMENTS,
        V.UNDERSTAND_MODULES,
        V.USING_MODULES,
    }
)


@dataclass(slots=True, frozen=True)
class Modifier:
    """A persistent state modifier (`=`, `+`, `-`, `?`) carried by a packet."""

    op: str
    name: str
    value: Value


class Packet:
    """A PSYC packet: routing variables, entity variables, method and body."""

    __slots__ = ("body", "method", "modifiers", "render_cache", "routing", "state_op", "vars")

    def __init__(
        self,
        method: str,
        routing: dict[str, str] | None = None,
        vars: dict[str, Value] | None = None,
        body: str = "",
        modifiers: list[Modifier] | None = None,
        state_op: str = "",
    ) -> None:
        self.method = method
        self.routing: dict[str, str] = routing if routing is not None else {}
        self.vars: dict[str, Value] = vars if vars is not None else {}
        self.body = body
        self.modifiers: list[Modifier] = modifiers if modifiers is not None else []
        self.state_op = state_op
        self.render_cache: dict[Any, Any] = {}

    # Convenience accessors for the routing variables used everywhere.
    @property
    def source(self) -> str:
        return self.routing.get(V.SOURCE, "")

    @property
    def target(self) -> str:
        return self.routing.get(V.TARGET, "")

    @property
    def context(self) -> str:
        return self.routing.get(V.CONTEXT, "")

    @property
    def relay(self) -> str:
        """The original speaker of a context cast, else the source."""
        return self.routing.get(V.SOURCE_RELAY) or self.routing.get(V.SOURCE, "")

    def get(self, name: str, default: str = "") -> str:
        value = self.vars.get(name, default)
        if isinstance(value, list):
            return " ".join(value)
        return value

    def get_list(self, name: str) -> list[str]:
        value = self.vars.get(name)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        return [value]

    def rows(self, names: Sequence[str]) -> list[tuple[str, ...]]:
        """A table sent as parallel `_list_*` columns (see `columns`), as rows.

        The first column says how many rows there are; a shorter column (an older
        or careless peer) reads as "" where it ends, a longer one is cut."""
        first = self.get_list(names[0])
        n = len(first)
        cols = [first]
        for name in names[1:]:
            values = self.get_list(name)
            cols.append(values + [""] * (n - len(values)) if len(values) < n else values)
        return list(zip(*cols, strict=False)) if n else []  # longer ones are cut

    def copy(self, **routing: str) -> Packet:
        """A shallow copy with some routing variables replaced (empty string drops one)."""
        new_routing = dict(self.routing)
        for name, value in routing.items():
            if value:
                new_routing[name] = value
            else:
                new_routing.pop(name, None)
        return Packet(
            self.method,
            new_routing,
            dict(self.vars),
            self.body,
            list(self.modifiers),
            self.state_op,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packet):
            return NotImplemented
        return (
            self.method == other.method
            and self.routing == other.routing
            and self.vars == other.vars
            and self.body == other.body
            and self.modifiers == other.modifiers
            and self.state_op == other.state_op
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Packet({self.method!r}, routing={self.routing!r}, vars={self.vars!r}, "
            f"body={self.body!r})"
        )


def columns(names: Sequence[str], rows: Iterable[Sequence[str]]) -> dict[str, Value]:
    """A table as entity variables: one `_list_*` column per name, in parallel
    (`Packet.rows` reads it back)."""
    cols: list[list[str]] = [[] for _ in names]
    for row in rows:
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return dict(zip(names, cols, strict=True))


def number(text: str, default: int = 0, digits: int = 30) -> int:
    """A decimal integer from another server (ASCII digits, an optional `-`, at most
    `digits` digits), else `default`: `str.isdigit` takes "²" and `int` takes " 1",
    "1_0" and Arabic-Indic digits, and a value of thousands of digits is an error."""
    body = text[1:] if text[:1] == "-" else text
    if not body or len(body) > digits or not body.isascii() or not body.isdigit():
        return default
    return int(text)


def seconds(text: str, default: float) -> float:
    """A time in seconds from another server: finite, within 0 .. year 9999, else
    `default` (`float` takes "nan", "inf" and "1e400")."""
    try:
        value = float(text)
    except ValueError:
        return default
    return value if 0.0 <= value <= MAX_SECONDS else default


MAX_SECONDS = 253402300799.0  # 9999-12-31T23:59:59Z: what datetime and strftime can show


def method_chain(method: str) -> Iterator[str]:
    """Yield a method and its ancestors: `_notice_place_enter_join`, `_notice_place_enter`, ...

    PSYC methods inherit by prefix, so a handler for `_notice_place` also handles
    any more specific `_notice_place_*` it does not know.
    """
    while method:
        yield method
        cut = method.rfind("_")
        if cut <= 0:
            return
        method = method[:cut]


def family(method: str) -> str:
    """The method family: `_message`, `_notice`, `_request`, `_error`, ..."""
    cut = method.find("_", 1)
    return method if cut < 0 else method[:cut]


H = TypeVar("H")


class Dispatch(Generic[H]):
    """A method table with prefix inheritance and a per-method cache of the lookup.

    `H` is what the table maps a method to: usually a handler such as
    `Callable[[Place, Packet], None]`, sometimes a plain value (history's kinds).
    `lookup` walks the method's chain (`_notice_place_leave_kick`, then
    `_notice_place_leave`, ...) and returns the most specific entry or None.
    """

    __slots__ = ("_cache", "_table")

    def __init__(self, table: Mapping[str, H]) -> None:
        self._table = table
        self._cache: dict[str, H | None] = {}

    def lookup(self, method: str) -> H | None:
        try:
            return self._cache[method]
        except KeyError:
            pass
        handler: H | None = None
        for name in method_chain(method):
            handler = self._table.get(name)
            if handler is not None:
                break
        if len(self._cache) < 4096:
            self._cache[method] = handler
        return handler
