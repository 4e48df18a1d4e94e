"""A place: the central authority of one channel.

Requests arrive as PSYC packets (`_request_enter`, `_message_public`,
`_request_set_mode`, ...).  The place decides, then casts one `_notice_place_*`
per member route (the same packet object to each) or answers the requester with
an `_echo_*` or `_error_*` packet.  Front-ends only translate.

Who may do what (the conventions of InspIRCd and UnrealIRCd).  Ranks, highest
first, and what each may do to the channel and to other members:

    rank       mode  prefix  may set and unset                 may kick, and take ranks from
    founder    +q    ~       +q +a and all below               anyone
    admin      +a    &       +o +h +v and all channel modes     admins and below
    op         +o    @       +o +h +v and all channel modes     ops and below
    halfop     +h    %       +v; +b +e +I; +i +k +l +m +n +t    voiced and plain members only
    voice      +v    +       nothing (speaks under +m, quiets and +M)

* +s +p +C +c +M +R +f need op; +r (registered) only services.
* TOPIC under +t, and INVITE under +i, need halfop.
* Adding a rank needs the rank that sets it; taking one from somebody else also
  needs to outrank them (from op up an equal rank is enough, halfops only act
  on members below halfop).  Anybody may drop their own ranks (`-o me`).
* Ranks are judged as they were when the command arrived, so `MODE #c -o+v me me`
  is allowed.  Refusals are `_error_place_privilege_operator` with the reason
  in the body (IRC: 482 ERR_CHANOPRIVSNEEDED with that text).
* A request from a service (`psyc://host/$name`, e.g. ChanServ) may do
  anything, including +r; `service_request` builds one.
* The first member of a channel gets +o, except in a registered channel (+r),
  whose ranks come from ChanServ's access list.
* A request with `_flag_override` comes from an IRC operator with the override
  privilege (its front-end vouches for that): what the rules would refuse is
  done anyway and announced to the channel (`_notice_place_override`).

Changes are applied in the order the place receives them and each request is
cast as one `_notice_place_mode`, so every member sees the same sequence.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, TypeVar, overload

from ircpsyc.channels import extbans as X
from ircpsyc.channels import modes as M
from ircpsyc.channels.flood import QUIET_SECONDS, FloodCounter, FloodLimit, parse_flood
from ircpsyc.channels.modes import FOUNDER, HALFOP, NO_RANK, OP, VOICE
from ircpsyc.config import Config
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Dispatch, Packet, Value
from ircpsyc.psyc_backend.router import Entity, RemoteEntity, Router
from ircpsyc.psyc_backend.uniform import (
    SERVICE,
    Uniform,
    UniformError,
    casefold,
    host_of,
    normalize,
    unescape_place,
)
from ircpsyc.psyc_backend.uniform import place as place_uniform

SERVICES = -1  # a "rank" above founder: only services reach it
# A line carries the time its sender's server stamped it (`_time`, ms): kept when it
# is plausible, so a line queued during a split is dated when it was said.  Plausible:
# at most CLOCK_SKEW in the future (then it counts as now), and at most ORIGIN_SLACK
# (clocks, transit, resends) plus the time its server was lately unreachable old.
CLOCK_SKEW = 5.0
ORIGIN_SLACK = 10.0
_SKEW_MS = int(CLOCK_SKEW * 1000)
_SLACK_MS = int(ORIGIN_SLACK * 1000)
_STAMP_DIGITS = 15  # ms: good until the year 33658
# The rank needed to set or unset each mode (see the table above).
MODE_RANK: dict[str, int] = {
    "q": FOUNDER,
    "a": FOUNDER,
    "o": OP,
    "h": OP,
    "v": HALFOP,
    **{letter: HALFOP for letter in "beIiklmnt"},
    **{letter: OP for letter in "spCcMRf"},
    "r": SERVICES,
}
# What each entry refusal is about, for override announcements.
_ENTRY_RULES = {
    V.ERROR_PLACE_ENTER_NECESSARY_INVITATION: "+i",
    V.ERROR_PLACE_ENTER_NECESSARY_ACCOUNT: "+R",
    V.ERROR_PLACE_ENTER_BANNED: "+b",
    V.ERROR_PLACE_ENTER_NECESSARY_KEY: "+k",
    V.ERROR_PLACE_ENTER_FULL: "+l",
}
_NOT_IN_NAMES = " ,\x07:\r\n\0"  # as IRC's channel names (no "psyc://" either)
_FORMATTING = frozenset("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f")


class Member:
    """One member as the place knows it; `route` is where its copies go."""

    __slots__ = (
        "account",
        "cloak",
        "flood",
        "host",
        "ip",
        "joined",
        "modes",
        "mute_state",
        "nick",
        "real_host",
        "realname",
        "route",
        "uniform",
        "user",
    )

    def __init__(
        self,
        uniform: str,
        route: Entity,
        nick: str,
        user: str,
        host: str,
        realname: str,
        account: str,
        joined: float,
        ip: str = "",
        cloak: str = "",
        real_host: str = "",
    ) -> None:
        self.uniform = uniform
        self.route = route
        self.nick = nick
        self.user = user
        self.host = host
        self.realname = realname
        self.account = account
        self.ip = ip
        self.cloak = cloak  # for bans on the cloak while the member shows its address
        self.real_host = real_host  # for bans on its host name while it shows the cloak
        self.modes = ""
        self.joined = joined
        self.flood: FloodCounter | None = None
        # (lists version, muted?) so a line costs no mask matching while nothing changed.
        self.mute_state: tuple[int, bool] = (-1, False)

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"

    def subject(self) -> X.Subject:
        return X.Subject(
            self.nick,
            self.user,
            self.host,
            self.ip,
            self.realname,
            self.account,
            self.cloak,
            self.real_host,
        )

    def rank(self) -> int:
        """Index in RANK_ORDER of the highest rank (0 = founder); NO_RANK if none."""
        if not self.modes:
            return NO_RANK
        for index, letter in enumerate(M.RANK_ORDER):
            if letter in self.modes:
                return index
        return NO_RANK

    def prefixes(self, multi: bool) -> str:
        if not self.modes:
            return ""
        marks = [M.RANKS[m] for m in M.RANK_ORDER if m in self.modes]
        return "".join(marks) if multi else "".join(marks[:1])

    @property
    def is_op(self) -> bool:
        """Op or above (admin, founder)."""
        return self.rank() <= OP


@dataclass(slots=True)
class ListEntry:
    mask: str
    setter: str
    set_at: int
    expires: float = 0.0  # when the place lifts it by itself (flood quiets); 0: never


@dataclass(frozen=True)
class Said:
    """Who said a line of a place and when (for REDACT: the place asks its observers)."""

    prefix: str  # nick!user@host of the sender when it was said
    account: str  # the sender's account then, or ""
    time_ms: int


class PlaceObserver:
    """Hooks for services (history, channel registration): override what you need.

    Observers run synchronously inside the place's decision, so they must be
    cheap: queue work for the store's writer instead of writing.
    """

    # Whether `place_cast` wants the lines members say (`_message_public` and its
    # NOTICE and TAGMSG forms): an observer of membership, modes and topic only says
    # False, and is not called for every channel line.
    casts_messages: ClassVar[bool] = True

    def place_created(self, place: Place) -> None:
        """A place came into existence (load persistent settings here)."""

    def member_entered(self, place: Place, member: Member) -> None:
        """A member has entered and got its echo (automatic modes go here)."""

    def place_cast(self, place: Place, packet: Packet) -> None:
        """The place cast an event to its members (log it for history here)."""

    def keep_empty(self, place: Place) -> bool:
        """Return True to keep an empty place alive (registered channels)."""
        return False

    def said(self, place: Place, msgid: str) -> Said | None:
        """Who said the line `msgid` of this place, if this observer kept it (history)."""
        return None

    def rename_refusal(self, place: Place, new_name: str, request: Packet) -> tuple[str, str]:
        """Why `place` may not become `new_name`: (an `_error_place_rename_*` method,
        the text), or ("", "") to let it (the directory: taken elsewhere; ChanServ)."""
        return "", ""

    def place_renamed(self, place: Place, old_name: str, old_uniform: str) -> None:
        """`place` has its new name and uniform now (re-key what is kept by name);
        its rename is cast right after."""


class Observers:
    """The observers of places (a registry shares one among its places), with the
    ones a cast calls worked out when one is added, not on every channel line:
    those that override `place_cast`, and of them those that want messages."""

    __slots__ = ("_all", "casters", "message_casters")

    def __init__(self, observers: Iterable[PlaceObserver] = ()) -> None:
        self._all: list[PlaceObserver] = list(observers)
        self.casters: tuple[PlaceObserver, ...] = ()
        self.message_casters: tuple[PlaceObserver, ...] = ()
        self._update()

    def append(self, observer: PlaceObserver) -> None:
        self._all.append(observer)
        self._update()

    def extend(self, observers: Iterable[PlaceObserver]) -> None:
        self._all.extend(observers)
        self._update()

    def __iter__(self) -> Iterator[PlaceObserver]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def _update(self) -> None:
        # In the order they came: history queues a line before the network's history
        # looks for it.
        own = [o for o in self._all if type(o).place_cast is not PlaceObserver.place_cast]
        self.casters = tuple(own)
        self.message_casters = tuple(o for o in own if o.casts_messages)


def outranks(actor: int, target: int) -> bool:
    """Whether rank `actor` may kick `target` or take ranks from them."""
    if actor <= OP:
        return actor <= target
    return actor < target


def is_service(uniform: str) -> bool:
    """Services (`psyc://host/$name`) may do anything in a place."""
    try:
        return Uniform.parse(uniform).sigil == SERVICE
    except UniformError:
        return False


def service_request(
    service: str,
    place: str,
    method: str,
    vars: dict[str, Value],
    prefix: str = "",
) -> Packet:
    """A request from a service to a place (ChanServ: modes incl. +r, kicks, topic).

    E.g. `service_request(chanserv, place, "_request_set_mode",
    {"_mode": "+rq", "_list_parameters": ["alice"]}, "ChanServ!ChanServ@services")`;
    hand it to the router.  The place recognises services by the `$` of the
    source uniform, which only this network's servers can send.
    """
    out: dict[str, Value] = {V.NICK: prefix.split("!", 1)[0] or service}
    if prefix:
        out[V.PREFIX] = prefix
    out.update(vars)
    return Packet(method, {V.SOURCE: service, V.TARGET: place}, out)


# IRCv3 metadata limits (draft/metadata-2), the same for channels and persons.
METADATA_MAX_KEYS = 20  # keys on one channel or person
METADATA_MAX_VALUE_BYTES = 300  # of one value, in UTF-8
METADATA_MAX_KEY_LENGTH = 64  # characters of a key name
METADATA_KEY = re.compile(rf"[a-z0-9_./-]{{1,{METADATA_MAX_KEY_LENGTH}}}")  # the spec's names
_NOT_IN_VALUES = str.maketrans("\r\n\0", "   ")  # a value never breaks a line


def metadata_entries(pairs: Iterable[Sequence[str]]) -> dict[str, str]:
    """Metadata from a request, a cast or another server: valid keys only, values
    within `METADATA_MAX_VALUE_BYTES` and without line breaks."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if METADATA_KEY.fullmatch(key):
            cut = value.encode()[:METADATA_MAX_VALUE_BYTES].decode("utf-8", "ignore")
            out[key] = cut.translate(_NOT_IN_VALUES)
    return out


def _needs(rank: int, action: str) -> str:
    return f"You must have channel {M.RANK_NAMES[rank]} access or above to {action}"


def has_formatting(text: str) -> bool:
    return any(c in _FORMATTING for c in text)


def is_blocked_ctcp(text: str) -> bool:
    """A CTCP other than ACTION (what +C refuses)."""
    if not text.startswith("\x01"):
        return False
    return not (text.startswith("\x01ACTION ") or text.rstrip("\x01") == "\x01ACTION")


def _subject_of(packet: Packet) -> X.Subject:
    """Who a request comes from, for ban matching (entering, outside senders)."""
    nick = packet.get(V.NICK)
    user, host = packet.get(V.USER), packet.get(V.HOST)
    prefix = packet.get(V.PREFIX)
    if prefix and not (user and host):
        nick_user, _, host = prefix.partition("@")
        nick, _, user = nick_user.partition("!")
    return X.Subject(
        nick,
        user or nick,
        host or "unknown",
        packet.get(V.IP),
        packet.get(V.REALNAME),
        packet.get(V.ACCOUNT),
        packet.get(V.CLOAK),
        packet.get(V.HOST_REAL),
    )


_T = TypeVar("_T")


class Members(dict[str, "Member"]):
    """A place's members by normalized uniform, with where a cast goes worked out once
    per change of membership, not once per line: `routes`, the local members'
    routes in order, and `servers`, the servers of the others; None when the
    members changed since (`Place.cast` works them out again)."""

    __slots__ = ("routes", "servers")

    def __init__(self) -> None:
        super().__init__()
        self.routes: tuple[Entity, ...] | None = None
        self.servers: frozenset[str] = frozenset()

    def __setitem__(self, key: str, member: Member) -> None:
        self.routes = None
        super().__setitem__(key, member)

    def __delitem__(self, key: str) -> None:
        self.routes = None
        super().__delitem__(key)

    @overload
    def pop(self, key: str, /) -> Member: ...
    @overload
    def pop(self, key: str, default: Member, /) -> Member: ...
    @overload
    def pop(self, key: str, default: _T, /) -> Member | _T: ...
    def pop(self, key: str, *default: Any) -> Any:
        self.routes = None
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Member]:
        self.routes = None
        return super().popitem()

    def clear(self) -> None:
        self.routes = None
        super().clear()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.routes = None
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.routes = None
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Members:  # type: ignore[override,misc]
        self.routes = None
        super().__ior__(other)
        return self


class PlaceState:
    """The truth of one channel: who is in, topic, modes, lists; and its read side.

    A `Place` decides over one; a `Replica` (ircpsyc.channels.replica) applies the
    casts of a remote home to one.  Only those two write it; front-ends and services
    read it through a `PlaceView`.
    """

    __slots__ = (
        "by_nick",
        "clock",
        "created",
        "extra_params",
        "flags",
        "flood",
        "folded",
        "key",
        "limit",
        "lists",
        "lists_version",
        "members",
        "metadata",
        "name",
        "topic",
        "topic_setter",
        "topic_time",
        "uniform",
    )

    def __init__(self, uniform: str, name: str, clock: Callable[[], float]) -> None:
        self.uniform = uniform
        self.name = name
        self.folded = casefold(name)
        self.clock = clock
        self.created = int(clock())
        self.topic = ""
        self.topic_setter = ""
        self.topic_time = 0
        self.flags: set[str] = {"n", "t"}
        self.key = ""
        self.limit = 0
        self.flood: FloodLimit | None = None
        # Parameter modes a replica only shows (its home's +f): mode -> parameter.
        self.extra_params: dict[str, str] = {}
        self.lists: dict[str, list[ListEntry]] = {m: [] for m in M.LIST_MODES}
        self.lists_version = 0  # bumped on every change to +b/+e (members' mute caches)
        self.members = Members()  # normalized uniform -> member
        self.by_nick: dict[str, Member] = {}  # casefolded nick -> member
        self.metadata: dict[str, str] = {}  # IRCv3 metadata: key -> value

    @property
    def secret(self) -> bool:
        return "s" in self.flags or "p" in self.flags

    def member(self, uniform: str) -> Member | None:
        return self.members.get(normalize(uniform))

    def member_by_nick(self, nick: str) -> Member | None:
        return self.by_nick.get(casefold(nick))

    def mode_string(self, show_key: bool) -> tuple[str, list[str]]:
        letters = "".join(sorted(self.flags))
        params: list[str] = []
        if self.key:
            letters += "k"
            params.append(self.key if show_key else "*")
        if self.limit:
            letters += "l"
            params.append(str(self.limit))
        if self.flood is not None:
            letters += "f"
            params.append(str(self.flood))
        for mode in sorted(self.extra_params):
            letters += mode
            params.append(self.extra_params[mode])
        return "+" + letters, params

    def masks(self, mode: str) -> list[str]:
        """The masks of list `mode` in force (flood quiets lapse at their time)."""
        return [e.mask for e in self.lists[mode] if not e.expires or e.expires > self.clock()]

    def is_banned(self, subject: X.Subject | str) -> bool:
        """Whether `subject` (or a nick!user@host) may not join."""
        if isinstance(subject, str):
            nick_user, _, host = subject.partition("@")
            nick, _, user = nick_user.partition("!")
            subject = X.Subject(nick, user, host)
        if not self.lists["b"]:
            return False
        return X.banned(self.masks("b"), self.masks("e"), subject)


class PlaceView(Protocol):
    """A channel as front-ends and services read it (a `Place` or a `Replica`).

    Read-only: what they want changed they ask the place for with a packet.
    """

    @property
    def uniform(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def folded(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def topic_setter(self) -> str: ...
    @property
    def topic_time(self) -> int: ...
    @property
    def flags(self) -> AbstractSet[str]: ...
    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def flood(self) -> FloodLimit | None: ...
    @property
    def lists(self) -> Mapping[str, Sequence[ListEntry]]: ...
    @property
    def members(self) -> Mapping[str, Member]: ...
    @property
    def by_nick(self) -> Mapping[str, Member]: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...
    @property
    def secret(self) -> bool: ...
    def member(self, uniform: str) -> Member | None: ...
    def member_by_nick(self, nick: str) -> Member | None: ...
    def mode_string(self, show_key: bool) -> tuple[str, list[str]]: ...
    def is_banned(self, subject: X.Subject | str) -> bool: ...
    def persistent(self) -> bool:
        """Whether the channel stays when its last member leaves (registered)."""
        ...


def _in_state(name: str) -> Any:
    """An attribute of the holder's `PlaceState`, read and written as the holder's own."""

    def store(holder: StateHolder, value: Any) -> None:
        setattr(holder.state, name, value)

    return property(attrgetter("state." + name), store)


class StateHolder:
    """What `Place` and `Replica` share: they hold a `PlaceState` (composition) and
    show it as their own attributes, so each of them is a `PlaceView`."""

    state: PlaceState
    uniform: str = _in_state("uniform")
    name: str = _in_state("name")
    folded: str = _in_state("folded")
    created: int = _in_state("created")
    topic: str = _in_state("topic")
    topic_setter: str = _in_state("topic_setter")
    topic_time: int = _in_state("topic_time")
    flags: set[str] = _in_state("flags")
    key: str = _in_state("key")
    limit: int = _in_state("limit")
    flood: FloodLimit | None = _in_state("flood")
    extra_params: dict[str, str] = _in_state("extra_params")
    lists: dict[str, list[ListEntry]] = _in_state("lists")
    lists_version: int = _in_state("lists_version")
    members: Members = _in_state("members")
    by_nick: dict[str, Member] = _in_state("by_nick")
    metadata: dict[str, str] = _in_state("metadata")

    @property
    def secret(self) -> bool:
        return self.state.secret

    def member(self, uniform: str) -> Member | None:
        return self.state.member(uniform)

    def member_by_nick(self, nick: str) -> Member | None:
        return self.state.member_by_nick(nick)

    def mode_string(self, show_key: bool) -> tuple[str, list[str]]:
        return self.state.mode_string(show_key)

    def is_banned(self, subject: X.Subject | str) -> bool:
        """Whether `subject` (or a nick!user@host) may not join."""
        return self.state.is_banned(subject)


class Place(StateHolder):
    """The home copy of a channel: it holds the channel's `PlaceState` and decides.

    Members by route, modes, topic and lists are in the state; what only the home
    keeps (invitations, knocks, timers, the cast counter) is here.
    """

    def __init__(
        self,
        router: Router,
        uniform: str,
        name: str,
        config: Config,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = PlaceState(uniform, name, clock)
        self.router = router
        self.config = config
        self.clock = clock
        self.next_expiry = 0.0  # the earliest `expires` of a list entry; 0: none
        self.invited: set[str] = set()  # normalized person uniforms
        self.knocks: dict[str, float] = {}  # normalized uniform -> time of the last KNOCK
        self.counter = 0
        self.renamed_at = 0.0  # when the last RENAME happened (a cooldown)
        self.on_empty: Callable[[Place], None] | None = None
        # The registry re-keys a renamed place: True when the new name was free.
        self.on_rename: Callable[[Place, str], bool] | None = None
        # Seconds a packet from a server may have waited to get here (linking: how
        # long that server was lately unreachable); None: no links.
        self.delayed: Callable[[str], float] | None = None
        self.observers = Observers()

    def persistent(self) -> bool:
        """Whether an observer keeps this place when it is empty (registered channels)."""
        return any(o.keep_empty(self) for o in self.observers)

    # -- what services change directly (no member asks for it, nothing is cast)

    def restore(
        self,
        flags: str,
        key: str,
        limit: int,
        flood: str,
        lists: Mapping[str, Iterable[tuple[str, str, int]]],
        topic: str,
        topic_setter: str,
        topic_time: int,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Give a new (empty) place the settings a service kept for it (ChanServ, at
        creation): modes, key, limit, +f, the +b/+e/+I lists, the topic and metadata."""
        self.flags = set(flags)
        self.key = key
        self.limit = limit
        self.flood = parse_flood(flood) if flood else None
        for mode in M.LIST_MODES:
            self.lists[mode] = [
                ListEntry(mask, setter, set_at) for mask, setter, set_at in lists.get(mode, [])
            ]
        self.lists_version += 1
        self.topic = topic
        self.topic_setter = topic_setter
        self.topic_time = topic_time
        self.metadata = dict(metadata or {})

    def date_topic(self, setter: str, when: int) -> None:
        """Credit the topic to who set it first (ChanServ's topic lock puts back a saved
        topic as it was)."""
        self.topic_setter, self.topic_time = setter, when

    def discard_if_empty(self) -> None:
        """Go now if nobody is in (a service stopped keeping this place)."""
        if not self.members and self.on_empty is not None:
            self.on_empty(self)

    # -- packets in

    def receive(self, packet: Packet) -> None:
        handler = _DISPATCH.lookup(packet.method)
        if handler is not None:
            handler(self, packet)
        elif packet.method.startswith(V.REQUEST):
            self._reply(packet, V.ERROR_UNSUPPORTED_METHOD, {V.METHOD_RELAY: packet.method})

    # -- helpers

    def _reply(
        self,
        request: Packet,
        method: str,
        vars: dict[str, Value] | None = None,
        text: str = "",
    ) -> None:
        routing = {V.SOURCE: self.uniform, V.TARGET: request.source}
        if V.TAG in request.routing:
            routing[V.TAG_RELAY] = request.routing[V.TAG]
        out: dict[str, Value] = {V.NICK_PLACE: self.name}
        if vars:
            out.update(vars)
        self.router.send(Packet(method, routing, out, text))

    def _deny(self, request: Packet, text: str) -> None:
        self._reply(request, V.ERROR_PLACE_PRIVILEGE_OPERATOR, None, text)

    def cast(
        self,
        packet: Packet,
        min_rank: int | None = None,
        context: str = "",
        message: bool = False,
    ) -> None:
        """Send one copy per route; the same object goes to every local member.

        Members on other servers are routes of one copy per server, handed to the
        network together (it picks the links); their server filters by rank.
        `context`: another uniform for the copies (a rename goes out under the old).
        `message`: a line a member said (observers that want none are not called).
        """
        state = self.state
        self.counter += 1
        packet.routing[V.CONTEXT] = context or state.uniform
        packet.routing[V.COUNTER] = str(self.counter)
        servers: set[str] | None = None
        if min_rank is None:  # the common case: the routes of the last change of members
            members = state.members
            routes = members.routes
            if routes is None:
                routes = self._routes()
            for route in routes:
                route.receive(packet)
            if members.servers:
                servers = set(members.servers)
        else:
            relay = normalize(packet.routing.get(V.SOURCE_RELAY, ""))
            for key, member in list(self.members.items()):
                route = member.route
                if route.__class__ is RemoteEntity:
                    if servers is None:
                        servers = set()
                    servers.add(route.server)
                elif member.rank() <= min_rank or key == relay:
                    route.receive(packet)
        if servers:
            self.router.cast(packet, servers, min_rank)
        observers = self.observers
        for observer in observers.message_casters if message else observers.casters:
            observer.place_cast(self, packet)

    def _routes(self) -> tuple[Entity, ...]:
        """Where a cast goes: the local members' routes (kept in `Members`), and the
        servers of the others."""
        members = self.state.members
        routes: list[Entity] = []
        servers: set[str] = set()
        for member in members.values():
            route = member.route
            if route.__class__ is RemoteEntity:
                servers.add(route.server)
            else:
                routes.append(route)
        members.routes = tuple(routes)
        members.servers = frozenset(servers)
        return members.routes

    def _event(
        self, method: str, actor: Member | None, vars: dict[str, Value], body: str = ""
    ) -> Packet:
        routing = {V.SOURCE_RELAY: actor.uniform} if actor else {}
        base: dict[str, Value] = {
            V.NICK_PLACE: self.name,
            V.ID: new_id(),
            V.TIME: str(int(self.clock() * 1000)),
        }
        if actor is not None:
            base[V.PREFIX] = actor.prefix
            base[V.NICK] = actor.nick
            if actor.account:
                base[V.ACCOUNT] = actor.account
        base.update(vars)
        return Packet(method, routing, base, body)

    def _server_event(self, method: str, vars: dict[str, Value]) -> Packet:
        """An event the place decides by itself (flood quiets, expiries): from the server."""
        event = self._event(method, None, vars)
        event.vars[V.PREFIX] = self.router.host
        event.vars[V.NICK] = self.router.host
        return event

    def _actor_event(
        self, method: str, actor: Member | None, packet: Packet, vars: dict[str, Value]
    ) -> Packet:
        """An event caused by a request; a non-member (service, oper) is named by the request."""
        event = self._event(method, actor, vars)
        if actor is None:
            event.vars[V.PREFIX] = packet.get(V.PREFIX) or packet.get(V.NICK) or packet.source
            event.vars[V.NICK] = packet.get(V.NICK) or packet.source
            event.routing[V.SOURCE_RELAY] = packet.source
        return event

    def _remove(self, member: Member) -> None:
        self.members.pop(normalize(member.uniform), None)
        self.by_nick.pop(casefold(member.nick), None)
        if (
            not self.members
            and self.on_empty is not None
            and not any(o.keep_empty(self) for o in self.observers)
        ):
            self.on_empty(self)

    def _require_member(self, packet: Packet) -> Member | None:
        member = self.members.get(normalize(packet.source))
        if member is None:
            self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        return member

    @staticmethod
    def _authority(packet: Packet) -> str:
        """ "services", "override" (an oper with the privilege) or "" (the rules apply)."""
        if is_service(packet.source):
            return "services"
        if packet.get(V.FLAG_OVERRIDE) == "1":
            return "override"
        return ""

    def _announce_override(self, packet: Packet, actor: Member | None, action: str) -> None:
        """Tell the channel that an IRC operator overrode its rules."""
        event = self._actor_event(V.NOTICE_PLACE_OVERRIDE, actor, packet, {V.ACTION: action})
        self.cast(event)

    def _masks(self, mode: str) -> list[str]:
        return self.state.masks(mode)

    def is_muted(self, member: Member) -> bool:
        """Banned or quieted (voice and above are exempt; the caller checks the rank)."""
        version, muted = member.mute_state
        if version != self.lists_version:
            muted = bool(self.lists["b"]) and X.muted(
                self._masks("b"), self._masks("e"), member.subject()
            )
            member.mute_state = (self.lists_version, muted)
        return muted

    def _invite_exempt(self, subject: X.Subject) -> bool:
        return X.invite_exempt(self._masks("I"), subject)

    # -- entering and leaving

    def _enter_refusal(self, packet: Packet, subject: X.Subject, invited: bool) -> str:
        """The error method refusing entry, or "" to let them in."""
        if invited:
            return ""
        if "i" in self.flags and not self._invite_exempt(subject):
            return V.ERROR_PLACE_ENTER_NECESSARY_INVITATION
        if "R" in self.flags and not subject.account and not self._invite_exempt(subject):
            return V.ERROR_PLACE_ENTER_NECESSARY_ACCOUNT
        if self.is_banned(subject):
            return V.ERROR_PLACE_ENTER_BANNED
        if self.key and packet.get(V.KEY) != self.key:
            return V.ERROR_PLACE_ENTER_NECESSARY_KEY
        if self.limit and len(self.members) >= self.limit:
            return V.ERROR_PLACE_ENTER_FULL
        return ""

    def _enter(self, packet: Packet) -> None:
        key = normalize(packet.source)
        if key in self.members:
            return  # rejoining is a no-op, as in psyced
        subject = _subject_of(packet)
        invited = key in self.invited
        refusal = self._enter_refusal(packet, subject, invited)
        if refusal and self._authority(packet) == "":
            return self._reply(packet, refusal)
        route = self.router.lookup(packet.source)
        if route is None:
            if (
                not self.members
                and self.on_empty is not None
                and not any(o.keep_empty(self) for o in self.observers)
            ):
                self.on_empty(self)  # created for a stranger: do not linger empty
            return
        self.invited.discard(key)
        member = Member(
            packet.source,
            route,
            subject.nick,
            subject.user,
            subject.host,
            subject.realname,
            subject.account,
            self.clock(),
            subject.ip,
            subject.cloak,
            subject.real_host,
        )
        if not self.members and "r" not in self.flags:
            member.modes = "o"  # a registered channel's ranks come from ChanServ
        enter_vars: dict[str, Value] = {V.REALNAME: member.realname}
        if packet.get(V.AWAY):
            enter_vars[V.AWAY] = packet.get(V.AWAY)
        self.cast(self._event(V.NOTICE_PLACE_ENTER, member, enter_vars))
        self.members[key] = member
        self.by_nick[casefold(member.nick)] = member
        echo = self._event(
            V.ECHO_PLACE_ENTER,
            member,
            {
                V.REALNAME: member.realname,
                V.TOPIC: self.topic,
                V.LIST_MEMBERS: [m.uniform for m in self.members.values()],
                V.LIST_MEMBERS_NICKS: [m.nick for m in self.members.values()],
            },
        )
        echo.routing[V.TARGET] = packet.source
        echo.routing[V.CONTEXT] = self.uniform
        if V.TAG in packet.routing:
            echo.routing[V.TAG_RELAY] = packet.routing[V.TAG]
        route.receive(echo)
        if refusal:
            self._announce_override(packet, member, f"JOIN despite {_ENTRY_RULES[refusal]}")
        for observer in self.observers:
            observer.member_entered(self, member)

    def _leave(self, packet: Packet) -> None:
        member = self.members.get(normalize(packet.source))
        if member is None:
            if not packet.method.startswith(V.REQUEST_LEAVE_DISCONNECT):
                self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
            return
        suffix = packet.method[len(V.REQUEST_LEAVE) :]
        vars: dict[str, Value] = {V.REASON: packet.get(V.REASON)}
        event = self._event(V.NOTICE_PLACE_LEAVE + suffix, member, vars)
        if packet.get(V.ID):
            event.vars[V.ID] = packet.get(V.ID)  # one QUIT per recipient across places
        self.cast(event)
        self._remove(member)

    def _nick_change(self, packet: Packet) -> None:
        member = self.members.pop(normalize(packet.source), None)
        if member is None:
            return
        self.by_nick.pop(casefold(member.nick), None)
        event = self._event(
            V.NOTICE_PLACE_NICK,
            member,
            {
                V.NICK_NEW: packet.get(V.NICK_NEW),
                V.ID: packet.get(V.ID) or new_id(),
            },
        )
        member.nick = packet.get(V.NICK_NEW)
        member.uniform = packet.get(V.UNIFORM_NEW)
        member.mute_state = (-1, False)
        self.members[normalize(member.uniform)] = member
        self.by_nick[casefold(member.nick)] = member
        self.cast(event)

    def _person_update(self, packet: Packet) -> None:
        """Account, host or realname changes of a member (account-notify, chghost, setname)."""
        member = self.members.get(normalize(packet.source))
        if member is None:
            return
        for var, attr in (
            (V.ACCOUNT, "account"),
            (V.HOST, "host"),
            (V.USER, "user"),
            (V.REALNAME, "realname"),
            (V.IP, "ip"),
            (V.CLOAK, "cloak"),
            (V.HOST_REAL, "real_host"),
        ):
            if var in packet.vars:
                setattr(member, attr, packet.get(var))
        member.mute_state = (-1, False)

    # -- talking

    def _refuse_message(self, packet: Packet, text: str) -> None:
        if not packet.method.endswith(V.NOTICE):  # NOTICE never gets automatic replies
            self._reply(packet, V.ERROR_PLACE_MESSAGE_FORBIDDEN, None, text)

    def _speak_refusal(self, member: Member | None, packet: Packet) -> str:
        """Why this line may not be said here, or "" (the +f count happens last)."""
        flags = self.flags
        if member is None:
            rank = NO_RANK
            if "n" in flags:
                return "Cannot send to channel (no external messages, +n)"
            if "m" in flags:
                return "Cannot send to channel (moderated, +m)"
            subject = _subject_of(packet)
            if self.lists["b"] and X.muted(self._masks("b"), self._masks("e"), subject):
                return "Cannot send to channel (you are banned or quieted)"
            account = subject.account
        else:
            rank = member.rank()
            account = member.account
            if rank > VOICE:
                if "m" in flags:
                    return "Cannot send to channel (moderated, +m)"
                if self.is_muted(member):
                    return "Cannot send to channel (you are banned or quieted)"
        if "M" in flags and not account and rank > VOICE:
            return "Cannot send to channel (+M: you need to be logged into your account)"
        if rank > HALFOP:
            body = packet.body
            if "C" in flags and is_blocked_ctcp(body):
                return "Cannot send CTCP to channel (+C)"
            if "c" in flags and has_formatting(body):
                return "Cannot send to channel (colours and formatting are blocked, +c)"
        return ""

    def _flooding(self, member: Member) -> bool:
        """Count a line of `member` under +f; act (quiet or kick) when it goes over."""
        limit = self.flood
        if limit is None or member.rank() <= HALFOP:
            return False
        if member.flood is None:
            member.flood = FloodCounter()
        if not member.flood.hit(limit, self.clock()):
            return False
        reason = f"Flood: more than {limit.lines} lines in {limit.seconds} seconds (+f)"
        if limit.kick:
            self.cast(
                self._server_event(
                    V.NOTICE_PLACE_LEAVE_KICK, {V.NICK_TARGET: member.nick, V.REASON: reason}
                )
            )
            self._remove(member)
            return True
        mask = f"{X.MUTE}:*!{member.user}@{member.host}"
        entries = self.lists["b"]
        if not any(casefold(e.mask) == casefold(mask) for e in entries):
            expires = self.clock() + QUIET_SECONDS
            entries.append(ListEntry(mask, self.router.host, int(self.clock()), expires))
            self._lists_changed(expires)
            self.cast(
                self._server_event(V.NOTICE_PLACE_MODE, {V.MODE: "+b", V.LIST_PARAMETERS: [mask]})
            )
        return True

    def _message(self, packet: Packet) -> None:
        # Every channel line comes here: the state is read once, and the event is
        # built in one go (what `_event` does, with one clock read for its time and
        # the origin's).
        state = self.state
        member = state.members.get(normalize(packet.source))
        # A member may speak unless a mode of _SPEAK_MODES is set or it is muted: when
        # neither can be (it has a rank, voice or above, or its mute state is known and
        # not muted), the full check is skipped.
        if (
            member is None
            or not state.flags.isdisjoint(_SPEAK_MODES)
            or not (
                member.modes
                or (member.mute_state[0] == state.lists_version and not member.mute_state[1])
            )
        ):
            refusal = self._speak_refusal(member, packet)
            if refusal:
                return self._refuse_message(packet, refusal)
        method = packet.method
        if (
            member is not None
            and state.flood is not None
            and not method.endswith(V.TAGMSG_SUFFIX)  # typing notifications do not count
            and self._flooding(member)
        ):
            return self._refuse_message(packet, "Cannot send to channel (flood protection, +f)")
        now = int(self.clock() * 1000)
        given = packet.vars
        stamp = self._origin_time(packet, now) if V.TIME in given else 0
        vars: dict[str, Value] = {
            V.NICK_PLACE: state.name,
            V.ID: new_id(),
            V.TIME: str(stamp or now),
        }
        if member is not None:
            routing = {V.SOURCE_RELAY: member.uniform}
            vars[V.PREFIX] = member.prefix
            vars[V.NICK] = member.nick
            if member.account:
                vars[V.ACCOUNT] = member.account
        else:
            routing = {V.SOURCE_RELAY: packet.source}
            vars[V.PREFIX] = packet.get(V.PREFIX)
            vars[V.NICK] = packet.get(V.NICK)
            if packet.get(V.ACCOUNT):
                vars[V.ACCOUNT] = packet.get(V.ACCOUNT)
        if not _MESSAGE_VAR_SET.isdisjoint(given):  # mostly none: a plain line
            for name in _MESSAGE_VARS:
                if name in given:
                    vars[name] = given[name]
        event = Packet(method, routing, vars, packet.body)
        min_rank = None
        if V.STATUSMSG in given:
            status = packet.get(V.STATUSMSG)
            if status and status[0] in M.STATUSMSG:
                min_rank = M.RANK_ORDER.index(next(m for m, s in M.RANKS.items() if s == status[0]))
        self.cast(event, min_rank, message=True)
        if member is None:
            # Outside senders (-n) are not members, so they get their echo directly.
            route = self.router.lookup(packet.source)
            if route is not None:
                route.receive(event)

    def _origin_time(self, packet: Packet, now: int) -> int:
        """The time (ms) the sender's server says the line was said, when plausible
        (`now`: the time in ms); 0: it says none, or one out of bounds (the line
        counts as said now)."""
        # What `number(..., 15)` accepts, but a sign: a stamp before 1970 is out anyway.
        text = packet.vars.get(V.TIME)
        if (
            not isinstance(text, str)
            or not text
            or len(text) > _STAMP_DIGITS
            or not text.isascii()
            or not text.isdigit()
        ):
            return 0
        stamp = int(text)
        if stamp > now + _SKEW_MS:
            return 0
        if stamp < now - _SLACK_MS:
            # Older than any line's way here, unless its server was lately
            # unreachable (its lines queued meanwhile): only then is that asked.
            delayed = self.delayed
            slack = ORIGIN_SLACK + (delayed(host_of(packet.source)) if delayed else 0.0)
            if stamp < now - int(slack * 1000):
                return 0
        return stamp if stamp < now else now

    # -- taking a line back (draft/message-redaction)

    def _redact(self, packet: Packet) -> None:
        """Its sender within `[history] redact_window`, an op, services or an oper's
        override may take a line back; the cast tells every member (and history)."""
        msgid = packet.get(V.ID_REDACTED)
        answer: dict[str, Value] = {V.ID_REDACTED: msgid}
        authority = self._authority(packet)
        actor = self.members.get(normalize(packet.source))
        if actor is None and not authority:
            return self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        said = next((w for o in self.observers if (w := o.said(self, msgid))), None)
        if said is None:
            return self._reply(packet, V.ERROR_PLACE_REDACT_UNKNOWN, answer)
        if not authority and (actor is None or actor.rank() > OP):
            assert actor is not None
            mine = (
                casefold(said.account) == casefold(actor.account)
                if said.account and actor.account
                else casefold(said.prefix) == casefold(actor.prefix)
            )
            if not mine:
                return self._reply(packet, V.ERROR_PLACE_REDACT_FORBIDDEN, answer)
            window = self.config.history.redact_window
            if not window or self.clock() * 1000 - said.time_ms > window * 1000:
                return self._reply(packet, V.ERROR_PLACE_REDACT_EXPIRED, answer)
        vars: dict[str, Value] = {V.ID_REDACTED: msgid}
        reason = packet.get(V.REASON)[: self.config.limits.kicklen]
        if reason:
            vars[V.REASON] = reason
        self.cast(self._actor_event(V.NOTICE_PLACE_REDACT, actor, packet, vars))

    def _done(self, packet: Packet, echo: str) -> None:
        """Tell who asked by a tagged request that it is handled: what it changed was
        cast and what was refused answered before, so a server waiting for the answer
        (ircpsyc.ircd.place_answers) knows it has all of it, nothing changed included."""
        if V.TAG in packet.routing:
            self._reply(packet, echo)

    # -- topic

    def _set_topic(self, packet: Packet) -> None:
        self._decide_topic(packet)
        self._done(packet, V.ECHO_PLACE_TOPIC)

    def _decide_topic(self, packet: Packet) -> None:
        authority = self._authority(packet)
        actor = self.members.get(normalize(packet.source))
        if actor is None and not authority:
            return self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        overridden = False
        if "t" in self.flags and (actor is None or actor.rank() > HALFOP):
            if not authority:
                return self._deny(packet, _needs(HALFOP, "change the topic (+t)"))
            overridden = authority == "override"
        topic = packet.get(V.TOPIC)[: self.config.limits.topiclen]
        if overridden:
            self._announce_override(packet, actor, "TOPIC")
        event = self._actor_event(V.NOTICE_PLACE_TOPIC, actor, packet, {V.TOPIC: topic})
        self.topic = topic
        self.topic_setter = event.get(V.PREFIX)
        self.topic_time = int(self.clock())
        self.cast(event)

    # -- metadata (IRCv3 draft/metadata-2), set by the place's operators

    def _set_metadata(self, packet: Packet) -> None:
        authority = self._authority(packet)
        actor = self.members.get(normalize(packet.source))
        if actor is None and not authority:
            return self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        if (actor is None or actor.rank() > OP) and not authority:
            return self._deny(packet, _needs(OP, "change the channel's metadata"))
        clear = packet.get(V.FLAG_CLEAR) == "1"
        unset = list(self.metadata) if clear else packet.get_list(V.LIST_METADATA_UNSET)
        unset = [key for key in unset if key in self.metadata]
        wanted = packet.rows((V.LIST_METADATA_KEYS, V.LIST_METADATA_VALUES))
        sets = list(metadata_entries(wanted).items())
        new_keys = {key for key, _ in sets if key not in self.metadata}
        if len(self.metadata) + len(new_keys) - len(unset) > METADATA_MAX_KEYS:
            return self._reply(packet, V.ERROR_PLACE_METADATA_LIMIT)
        for key in unset:
            del self.metadata[key]
        for key, value in sets:
            self.metadata[key] = value
        vars: dict[str, Value] = {
            V.LIST_METADATA_KEYS: [key for key, _ in sets],
            V.LIST_METADATA_VALUES: [value for _, value in sets],
            V.LIST_METADATA_UNSET: unset,
        }
        if clear:
            vars[V.FLAG_CLEAR] = "1"
        if sets or unset or clear:
            self.cast(self._actor_event(V.NOTICE_PLACE_METADATA, actor, packet, vars))

    # -- renaming (draft/channel-rename)

    def _rename(self, packet: Packet) -> None:
        """RENAME: ops (and services, opers with override) give the place a new name;
        members, modes, lists and topic stay, and so does its home (see the README)."""
        authority = self._authority(packet)
        actor = self.members.get(normalize(packet.source))
        new = packet.get(V.NICK_PLACE_NEW)
        vars: dict[str, Value] = {V.NICK_PLACE_NEW: new}
        if actor is None and not authority:
            return self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        rank = actor.rank() if actor is not None else NO_RANK
        if rank > OP and not authority:
            return self._deny(packet, _needs(OP, "rename the channel"))
        forbidden = V.ERROR_PLACE_RENAME_FORBIDDEN
        if not self._good_name(new) or new == self.name:
            return self._reply(packet, forbidden, vars, "That is not a new channel name")
        for observer in self.observers:
            method, text = observer.rename_refusal(self, new, packet)
            if method:
                return self._reply(packet, method, vars, text)
        now = self.clock()
        case_only = casefold(new) == self.folded  # no PART/JOIN burst: no cooldown
        if not authority and not case_only and now - self.renamed_at < RENAME_COOLDOWN:
            return self._reply(packet, forbidden, vars, "This channel has been renamed recently")
        old_name, old_uniform = self.name, self.uniform
        if rank > OP and authority == "override":
            self._announce_override(packet, actor, f"RENAME {old_name} {new}")
        if self.on_rename is None or not self.on_rename(self, new):
            return self._reply(
                packet, V.ERROR_PLACE_RENAME_IN_USE, vars, "The channel name is already taken"
            )
        self.renamed_at = now
        self.invited.clear()  # invitations name the old channel
        event = self._actor_event(
            V.NOTICE_PLACE_RENAME,
            actor,
            packet,
            {
                V.NICK_PLACE: old_name,
                V.NICK_PLACE_NEW: self.name,
                V.UNIFORM_PLACE_NEW: self.uniform,
                V.REASON: packet.get(V.REASON)[: self.config.limits.kicklen],
            },
        )
        for observer in self.observers:
            observer.place_renamed(self, old_name, old_uniform)
        # Under the old uniform: every replica finds itself by it, then takes the new.
        self.cast(event, context=old_uniform)
        if actor is None and authority == "override":  # not a member: the cast misses it
            renamed: dict[str, Value] = {V.NICK_PLACE: old_name, V.NICK_PLACE_NEW: self.name}
            self._reply(packet, V.ECHO_PLACE_RENAME, renamed)

    def _good_name(self, name: str) -> bool:
        """A channel name IRC can show (a peer outside the network may ask too)."""
        return (
            1 < len(name) <= self.config.limits.channellen
            and name[0] == "#"
            and not any(c in name for c in _NOT_IN_NAMES)
        )

    # -- kicking, inviting and knocking

    def _kick_refusal(self, rank: int, actor: Member | None, victim: Member) -> str:
        if victim is actor:
            return "" if rank <= HALFOP else _needs(HALFOP, "kick")
        if rank > HALFOP:
            return _needs(HALFOP, "kick")
        if not outranks(rank, victim.rank()):
            return (
                f"You may not kick {victim.nick}: they are channel "
                f"{M.RANK_NAMES[victim.rank()]} (you are {M.RANK_NAMES[rank]})"
            )
        return ""

    def _kick(self, packet: Packet) -> None:
        authority = self._authority(packet)
        actor = self.members.get(normalize(packet.source))
        if actor is None and not authority:
            return self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        rank = actor.rank() if actor is not None else NO_RANK
        if rank > HALFOP and not authority:
            return self._deny(packet, _needs(HALFOP, "kick"))
        victim = self.by_nick.get(casefold(packet.get(V.NICK_TARGET)))
        if victim is None:
            return self._reply(
                packet,
                V.ERROR_PLACE_TARGET_MEMBERSHIP,
                {V.NICK_TARGET: packet.get(V.NICK_TARGET)},
            )
        refusal = "" if authority == "services" else self._kick_refusal(rank, actor, victim)
        if refusal and authority != "override":
            return self._deny(packet, refusal)
        reason = packet.get(V.REASON)[: self.config.limits.kicklen] or (
            actor.nick if actor is not None else packet.get(V.NICK)
        )
        if refusal:
            self._announce_override(packet, actor, f"KICK {victim.nick}")
        self.cast(
            self._actor_event(
                V.NOTICE_PLACE_LEAVE_KICK,
                actor,
                packet,
                {V.NICK_TARGET: victim.nick, V.REASON: reason},
            )
        )
        self._remove(victim)

    def _invite(self, packet: Packet) -> None:
        authority = self._authority(packet)
        actor = self.members.get(normalize(packet.source))
        if actor is None and not authority:
            return self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
        target_nick = packet.get(V.NICK_TARGET)
        target = packet.get(V.UNIFORM_TARGET)
        overridden = False
        if "i" in self.flags and (actor is None or actor.rank() > HALFOP):
            if not authority:
                return self._deny(packet, _needs(HALFOP, "invite (+i)"))
            overridden = authority == "override"
        if normalize(target) in self.members:
            return self._reply(
                packet, V.ERROR_PLACE_INVITE_MEMBERSHIP, {V.NICK_TARGET: target_nick}
            )
        if overridden:
            self._announce_override(packet, actor, f"INVITE {target_nick}")
        self.invited.add(normalize(target))
        self._reply(packet, V.ECHO_PLACE_INVITE, {V.NICK_TARGET: target_nick})
        notice = self._actor_event(
            V.NOTICE_PLACE_INVITE, actor, packet, {V.NICK_TARGET: target_nick}
        )
        notice.routing = {V.SOURCE: self.uniform, V.TARGET: target}
        self.router.send(notice)
        # invite-notify: the members who could have invited too learn about it.
        notify = self._actor_event(
            V.NOTICE_PLACE_INVITED, actor, packet, {V.NICK_TARGET: target_nick}
        )
        self.cast(notify, HALFOP if "i" in self.flags else None)

    def _knock(self, packet: Packet) -> None:
        """KNOCK: ask the halfops and above of a closed channel for an invitation."""
        key = normalize(packet.source)
        if key in self.members:
            return self._reply(packet, V.ERROR_PLACE_KNOCK_MEMBERSHIP)
        if not ("i" in self.flags or self.key or (self.limit and len(self.members) >= self.limit)):
            return self._reply(packet, V.ERROR_PLACE_KNOCK_OPEN)
        subject = _subject_of(packet)
        if self.is_banned(subject):
            return self._reply(packet, V.ERROR_PLACE_ENTER_BANNED)
        now = self.clock()
        last = self.knocks.get(key)
        if last is not None and now - last < KNOCK_INTERVAL:
            return self._reply(packet, V.ERROR_PLACE_KNOCK_OFTEN)
        self.knocks = {k: t for k, t in self.knocks.items() if now - t < KNOCK_INTERVAL}
        self.knocks[key] = now
        event = self._event(
            V.NOTICE_PLACE_KNOCK,
            None,
            {
                V.PREFIX: subject.prefix,
                V.NICK: subject.nick,
                V.REASON: packet.get(V.REASON)[:300],
            },
        )
        event.routing[V.SOURCE_RELAY] = packet.source
        self.cast(event, HALFOP)
        self._reply(packet, V.ECHO_PLACE_KNOCK)

    # -- modes

    def _mode_refusal(self, rank: int, actor: Member | None, change: M.ModeChange) -> str:
        """Why the actor (of `rank` when the command started) may not make `change`."""
        mode = change.mode
        need = MODE_RANK.get(mode, OP)
        verb = "set" if change.adding else "unset"
        if need == SERVICES:
            return f"Only services may {verb} channel mode {mode}"
        if mode in M.RANKS:
            target = self.by_nick.get(casefold(change.param)) if change.param else None
            if not change.adding and target is not None and target is actor:
                return ""  # anybody may drop their own ranks
            if rank > need:
                return _needs(need, f"{verb} channel mode {mode}")
            if not change.adding and target is not None and not outranks(rank, target.rank()):
                return (
                    f"You may not unset channel mode {mode} on {target.nick}: they are channel "
                    f"{M.RANK_NAMES[target.rank()]}"
                )
            return ""
        if rank > need:
            return _needs(need, f"{verb} channel mode {mode}")
        return ""

    def _set_mode(self, packet: Packet) -> None:
        self._decide_modes(packet)
        self._done(packet, V.ECHO_PLACE_MODE)

    def _decide_modes(self, packet: Packet) -> None:
        actor = self.members.get(normalize(packet.source))
        authority = self._authority(packet)
        parsed = M.parse_channel_modes(packet.get(V.MODE), packet.get_list(V.LIST_PARAMETERS))
        for char in parsed.unknown:
            self._reply(packet, V.ERROR_PLACE_MODE_UNKNOWN, {V.MODE: char})
        rank = actor.rank() if actor is not None else NO_RANK  # judged once, at the start
        applied: list[M.ModeChange] = []
        overridden: list[M.ModeChange] = []
        denials: list[str] = []
        for change in parsed.changes:
            if change.mode in M.LIST_MODES and change.param is None:
                self._reply(packet, V.STATUS_PLACE_LIST, {V.MODE: change.mode})
                continue
            if actor is None and not authority:
                self._reply(packet, V.ERROR_NECESSARY_MEMBERSHIP)
                return
            refusal = "" if authority == "services" else self._mode_refusal(rank, actor, change)
            if refusal and (authority != "override" or MODE_RANK.get(change.mode) == SERVICES):
                if refusal not in denials:
                    denials.append(refusal)
                continue
            result = self._apply(packet, change)
            if result is not None:
                applied.append(result)
                if refusal:
                    overridden.append(result)
        for text in denials:
            self._deny(packet, text)
        if overridden:
            modestr, params = M.render_changes(overridden)
            self._announce_override(packet, actor, " ".join(["MODE", modestr, *params]))
        if applied:
            modestr, params = M.render_changes(applied)
            event = self._actor_event(
                V.NOTICE_PLACE_MODE,
                actor,
                packet,
                {V.MODE: modestr, V.LIST_PARAMETERS: params},
            )
            self.cast(event)

    def _apply(self, packet: Packet, change: M.ModeChange) -> M.ModeChange | None:
        mode, adding, param = change.mode, change.adding, change.param
        if mode in M.RANKS:
            if param is None:
                self._reply(packet, V.ERROR_NECESSARY_PARAMETER, {V.MODE: mode})
                return None
            target = self.by_nick.get(casefold(param))
            if target is None:
                self._reply(
                    packet, V.ERROR_PLACE_TARGET_MEMBERSHIP, {V.NICK_TARGET: param, V.MODE: mode}
                )
                return None
            has = mode in target.modes
            if adding == has:
                return None
            target.modes = (
                "".join(m for m in M.RANK_ORDER if m in target.modes or m == mode)
                if adding
                else target.modes.replace(mode, "")
            )
            return M.ModeChange(adding, mode, target.nick)
        if mode in M.LIST_MODES:
            assert param is not None
            return self._apply_list(packet, mode, adding, param)
        if mode == "k":
            if adding:
                if not param or " " in param or "," in param or len(param) > 23:
                    self._reply(packet, V.ERROR_PLACE_MODE_INVALID, {V.MODE: "k"})
                    return None
                self.key = param
                return change
            if not self.key:
                return None
            self.key = ""
            return M.ModeChange(False, "k", "*")
        if mode == "l":
            if not adding:
                if not self.limit:
                    return None
                self.limit = 0
                return change
            try:
                limit = int(param or "")
            except ValueError:
                limit = 0
            if limit <= 0:
                self._invalid(packet, "l", param, "The limit must be a positive number")
                return None
            self.limit = limit
            return M.ModeChange(True, "l", str(limit))
        if mode == "f":
            if not adding:
                if self.flood is None:
                    return None
                self.flood = None
                for member in self.members.values():
                    member.flood = None
                return change
            flood = parse_flood(param or "")
            if flood is None:
                self._invalid(
                    packet, "f", param, "Flood limit must be LINES:SECONDS or kLINES:SECONDS"
                )
                return None
            self.flood = flood
            return M.ModeChange(True, "f", str(flood))
        if adding == (mode in self.flags):
            return None
        if adding:
            self.flags.add(mode)
        else:
            self.flags.discard(mode)
        return change

    def _invalid(self, packet: Packet, mode: str, param: str | None, text: str) -> None:
        self._reply(packet, V.ERROR_PLACE_MODE_INVALID, {V.MODE: mode, V.MASK: param or "*"}, text)

    def _lists_changed(self, expires: float = 0.0) -> None:
        self.lists_version += 1
        if expires and (not self.next_expiry or expires < self.next_expiry):
            self.next_expiry = expires

    def _apply_list(
        self, packet: Packet, mode: str, adding: bool, param: str
    ) -> M.ModeChange | None:
        entries = self.lists[mode]
        mask = X.normalize_ban(param)
        folded = casefold(mask if mask is not None else param.strip())
        existing = next((e for e in entries if casefold(e.mask) == folded), None)
        if adding:
            if mask is None:
                self._invalid(packet, mode, param, "Invalid ban mask or unknown extban type")
                return None
            if existing is not None:
                return None
            if len(entries) >= self.config.limits.max_bans:
                self._reply(packet, V.ERROR_PLACE_LIST_FULL, {V.MODE: mode, V.MASK: mask})
                return None
            setter = packet.get(V.PREFIX) or packet.get(V.NICK) or packet.source
            entries.append(ListEntry(mask, setter, int(self.clock())))
            self._lists_changed()
            return M.ModeChange(True, mode, mask)
        if existing is None:
            return None
        entries.remove(existing)
        self._lists_changed()
        return M.ModeChange(False, mode, existing.mask)

    def expire(self) -> None:
        """Lift the timed list entries (flood quiets) whose time has come."""
        now = self.clock()
        if not self.next_expiry or self.next_expiry > now:
            return
        lifted: list[M.ModeChange] = []
        upcoming = 0.0
        for mode, entries in self.lists.items():
            for entry in list(entries):
                if not entry.expires:
                    continue
                if entry.expires <= now:
                    entries.remove(entry)
                    lifted.append(M.ModeChange(False, mode, entry.mask))
                elif not upcoming or entry.expires < upcoming:
                    upcoming = entry.expires
        self.next_expiry = upcoming
        if lifted:
            self._lists_changed()
            modestr, params = M.render_changes(lifted)
            self.cast(
                self._server_event(
                    V.NOTICE_PLACE_MODE, {V.MODE: modestr, V.LIST_PARAMETERS: params}
                )
            )


# What a channel line carries from its sender into the cast, when it has it.
_MESSAGE_VARS = (V.TAGS, V.STATUSMSG, V.FLAG_BOT, V.MULTILINE)
_MESSAGE_VAR_SET = frozenset(_MESSAGE_VARS)
# The modes that may refuse a member's line (see `Place._speak_refusal`).
_SPEAK_MODES = frozenset("mMCc")

KNOCK_INTERVAL = 60.0  # seconds between two KNOCKs of one person at one place
RENAME_COOLDOWN = 10.0  # seconds between two RENAMEs of one place (each one bursts to all)
RENAMED_ALIAS = 3600.0  # seconds the home answers resyncs and netjoins for an old uniform
RENAMED_KEPT = 4096  # old uniforms remembered at most

_DISPATCH = Dispatch(
    {
        V.REQUEST_ENTER: Place._enter,
        V.REQUEST_CONTEXT_ENTER: Place._enter,
        V.REQUEST_LEAVE: Place._leave,
        V.NOTICE_PLACE_LEAVE: Place._leave,
        V.MESSAGE_PUBLIC: Place._message,
        V.REQUEST_SET_TOPIC: Place._set_topic,
        V.REQUEST_SET_METADATA: Place._set_metadata,
        V.REQUEST_KICK: Place._kick,
        V.REQUEST_INVITE: Place._invite,
        V.REQUEST_KNOCK: Place._knock,
        V.REQUEST_REDACT: Place._redact,
        V.REQUEST_RENAME: Place._rename,
        V.REQUEST_SET_MODE: Place._set_mode,
        V.NOTICE_PERSON_NICK: Place._nick_change,
        V.NOTICE_PERSON_UPDATE: Place._person_update,
    }
)


class PlaceRegistry:
    """The places this server is home for; creates one when somebody enters.

    Front-ends look channels up with `get` and `views` (read-only views, replicas of
    channels homed elsewhere included); services that act as the home use `place`.
    """

    def __init__(
        self, router: Router, host: str, config: Config, clock: Callable[[], float] = time.time
    ) -> None:
        self.router = router
        self.host = host
        self.config = config
        self.clock = clock
        self._places: dict[str, Place] = {}  # casefolded "#name" -> place
        # Renamed places by their old uniform, for replicas that missed the rename:
        # normalized old uniform -> (place, until when).  Never routed to.
        self._renamed: dict[str, tuple[Place, float]] = {}
        self.observers = Observers()
        self._prefix = normalize(f"psyc://{host}/@")
        router.add_resolver(self._resolve)
        # Server linking: replicas of places homed elsewhere (ircpsyc.channels.replica).
        self.remote: Callable[[str], PlaceView | None] | None = None
        self.remote_views: Callable[[], Iterable[PlaceView]] | None = None
        self.delayed: Callable[[str], float] | None = None  # see Place.delayed

    @property
    def places(self) -> Mapping[str, Place]:
        """The places homed here by casefolded name (read-only)."""
        return MappingProxyType(self._places)

    def get(self, channel: str) -> PlaceView | None:
        """The place or, for a channel homed on another server, its local replica."""
        folded = casefold(channel)
        place = self._places.get(folded)
        if place is None and self.remote is not None:
            return self.remote(folded)
        return place

    def views(self) -> list[PlaceView]:
        """Every channel this server can answer about: its places and its replicas."""
        out: list[PlaceView] = list(self._places.values())
        if self.remote_views is not None:
            out.extend(self.remote_views())
        return out

    def place(self, channel: str) -> Place | None:
        """The place of `channel` if it is homed here (not a replica)."""
        return self._places.get(casefold(channel))

    def homed(self) -> list[Place]:
        """Every place homed here."""
        return list(self._places.values())

    def renamed_place(self, uniform: str) -> Place | None:
        """The place that had `uniform` before a recent RENAME (None: none, or too long
        ago): what a replica that missed the rename still asks for."""
        key = normalize(uniform)
        found = self._renamed.get(key)
        if found is None:
            return None
        place, until = found
        if until < self.clock() or self._places.get(place.folded) is not place:
            del self._renamed[key]
            return None
        return place

    def is_home_of(self, view: PlaceView) -> bool:
        """Whether `view` is a place homed here (not a replica)."""
        return self._places.get(view.folded) is view

    def invitations(self, uniform: str) -> list[PlaceView]:
        """The places here that have invited person `uniform` (INVITE with no arguments)."""
        key = normalize(uniform)
        return [place for place in self._places.values() if key in place.invited]

    def configure(self, config: Config) -> None:
        """A new configuration (a rehash): new places and the existing ones use it."""
        self.config = config
        for place in self._places.values():
            place.config = config

    def set_delayed(self, delayed: Callable[[str], float]) -> None:
        """How long a server was lately unreachable (linking), for every place."""
        self.delayed = delayed
        for place in self._places.values():
            place.delayed = delayed

    def __len__(self) -> int:
        return len(self._places)

    def _resolve(self, key: str, packet: Packet) -> Place | None:
        if not key.startswith(self._prefix) or not packet.method.startswith(
            (V.REQUEST_ENTER, V.REQUEST_CONTEXT_ENTER)
        ):
            return None
        name = "#" + unescape_place(key[len(self._prefix) :])
        display = packet.get(V.NICK_PLACE)
        # The uniform decides; the requester's spelling only keeps its case.
        return self.create(display if casefold(display) == casefold(name) else name)

    def create(self, display: str) -> Place:
        """Create (or return) the place for channel `display`, e.g. a registered one."""
        existing = self._places.get(casefold(display))
        if existing is not None:
            return existing
        place = Place(
            self.router, place_uniform(self.host, display[1:]), display, self.config, self.clock
        )
        place.on_empty = self._drop
        place.on_rename = self._rename
        place.observers = self.observers
        place.delayed = self.delayed
        self._places[casefold(display)] = place
        self.router.register(place)
        for observer in self.observers:
            observer.place_created(place)
        return place

    def tick(self) -> None:
        """Timers (once a second): lift expired flood quiets."""
        for place in [p for p in self._places.values() if p.next_expiry]:
            place.expire()

    def _rename(self, place: Place, new: str) -> bool:
        """Re-key `place` under the name `new` (False: another place has that name)."""
        folded = casefold(new)
        if self._places.get(folded, place) is not place:
            return False
        self.router.unregister(place.uniform, place)
        del self._places[place.folded]
        now = self.clock()
        if len(self._renamed) >= RENAMED_KEPT:  # the oldest go first
            for key in [k for k, (_, until) in self._renamed.items() if until < now] or [
                next(iter(self._renamed))
            ]:
                del self._renamed[key]
        self._renamed[normalize(place.uniform)] = (place, now + RENAMED_ALIAS)
        state = place.state
        state.name, state.folded = new, folded
        state.uniform = place_uniform(self.host, new[1:])
        self._places[folded] = place
        self.router.register(place)
        return True

    def _drop(self, place: Place) -> None:
        if self._places.get(place.folded) is place:
            del self._places[place.folded]
            self.router.unregister(place.uniform, place)
