"""A place: the central authority of one channel.

Requests arrive as PSYC packets (`_request_enter`, `_message_public`,
`_request_set_mode`, ...).  The place decides, then casts one `_notice_place_*`
per member route (the same packet object to each) or answers the requester with
an `_echo_*` or `_error_*` packet.  Front-ends only translate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ircpsyc.channels import modes as M
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Dispatch, Packet, Value
from ircpsyc.psyc_backend.router import Entity, Router
from ircpsyc.psyc_backend.uniform import casefold, normalize, unescape_place
from ircpsyc.psyc_backend.uniform import place as place_uniform


class Member:
    """One member as the place knows it; `route` is where its copies go."""

    __slots__ = (
        "account",
        "host",
        "joined",
        "modes",
        "nick",
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
    ) -> None:
        self.uniform = uniform
        self.route = route
        self.nick = nick
        self.user = user
        self.host = host
        self.realname = realname
        self.account = account
        self.modes = ""
        self.joined = joined

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"

    def rank(self) -> int:
        """Index in RANK_ORDER of the highest rank (0 = op); len(RANK_ORDER) if none."""
        if not self.modes:
            return _NO_RANK
        for index, letter in enumerate(M.RANK_ORDER):
            if letter in self.modes:
                return index
        return len(M.RANK_ORDER)

    def prefixes(self, multi: bool) -> str:
        if not self.modes:
            return ""
        marks = [M.RANKS[m] for m in M.RANK_ORDER if m in self.modes]
        return "".join(marks) if multi else "".join(marks[:1])

    @property
    def is_op(self) -> bool:
        return "o" in self.modes


@dataclass(slots=True)
class ListEntry:
    mask: str
    setter: str
    set_at: int


class PlaceObserver:
    """Hooks for services (history, channel registration): override what you need.

    Observers run synchronously inside the place's decision, so they must be
    cheap: queue work for the store's writer instead of writing.
    """

    def place_created(self, place: Place) -> None:
        """A place came into existence (load persistent settings here)."""

    def member_entered(self, place: Place, member: Member) -> None:
        """A member has entered and got its echo (automatic modes go here)."""

    def place_cast(self, place: Place, packet: Packet) -> None:
        """The place cast an event to its members (log it for history here)."""

    def keep_empty(self, place: Place) -> bool:
        """Return True to keep an empty place alive (registered channels)."""
        return False


OP = M.RANK_ORDER.index("o")
_NO_RANK = len(M.RANK_ORDER)
VOICE = M.RANK_ORDER.index("v")


class Place:
    """The home copy of a channel: members by route, modes, topic, lists."""

    def __init__(
        self,
        router: Router,
        uniform: str,
        name: str,
        config: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.uniform = uniform
        self.name = name
        self.folded = casefold(name)
        self.config = config
        self.clock = clock
        self.created = int(clock())
        self.topic = ""
        self.topic_setter = ""
        self.topic_time = 0
        self.flags: set[str] = {"n", "t"}
        self.key = ""
        self.limit = 0
        self.lists: dict[str, list[ListEntry]] = {m: [] for m in M.LIST_MODES}
        self.invited: set[str] = set()  # normalized person uniforms
        self.members: dict[str, Member] = {}  # normalized uniform -> member
        self.by_nick: dict[str, Member] = {}  # casefolded nick -> member
        self.counter = 0
        self.on_empty: Callable[[Place], None] | None = None
        self.observers: list[PlaceObserver] = []

    # -- the read side used by NAMES/WHO/LIST/TOPIC (a remote replica offers the same)

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
        return "+" + letters, params

    # -- packets in

    def receive(self, packet: Packet) -> None:
        handler = _DISPATCH.lookup(packet.method)
        if handler is not None:
            handler(self, packet)
        elif packet.method.startswith("_request"):
            self._reply(packet, "_error_unsupported_method", {"_method_relay": packet.method})

    # -- helpers

    def _reply(self, request: Packet, method: str, vars: dict[str, Value] | None = None) -> None:
        routing = {"_source": self.uniform, "_target": request.source}
        if "_tag" in request.routing:
            routing["_tag_relay"] = request.routing["_tag"]
        out: dict[str, Value] = {"_nick_place": self.name}
        if vars:
            out.update(vars)
        self.router.send(Packet(method, routing, out))

    def cast(self, packet: Packet, min_rank: int | None = None) -> None:
        """Send one copy per route; the same object goes to every local member."""
        self.counter += 1
        packet.routing["_context"] = self.uniform
        packet.routing["_counter"] = str(self.counter)
        if min_rank is None:
            for member in list(self.members.values()):
                member.route.receive(packet)
        else:
            relay = normalize(packet.routing.get("_source_relay", ""))
            for key, member in list(self.members.items()):
                if member.rank() <= min_rank or key == relay:
                    member.route.receive(packet)
        for observer in self.observers:
            observer.place_cast(self, packet)

    def _event(
        self, method: str, actor: Member | None, vars: dict[str, Value], body: str = ""
    ) -> Packet:
        routing = {"_source_relay": actor.uniform} if actor else {}
        base: dict[str, Value] = {
            "_nick_place": self.name,
            "_id": new_id(),
            "_time": str(int(self.clock() * 1000)),
        }
        if actor is not None:
            base["_prefix"] = actor.prefix
            base["_nick"] = actor.nick
            if actor.account:
                base["_account"] = actor.account
        base.update(vars)
        return Packet(method, routing, base, body)

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
            self._reply(packet, "_error_necessary_membership")
        return member

    def is_banned(self, prefix: str) -> bool:
        if any(M.mask_match(e.mask, prefix) for e in self.lists["b"]):
            return not any(M.mask_match(e.mask, prefix) for e in self.lists["e"])
        return False

    def _invite_exempt(self, prefix: str) -> bool:
        return any(M.mask_match(e.mask, prefix) for e in self.lists["I"])

    # -- entering and leaving

    def _enter(self, packet: Packet) -> None:
        key = normalize(packet.source)
        if key in self.members:
            return  # rejoining is a no-op, as in psyced
        nick = packet.get("_nick")
        user = packet.get("_user", nick)
        host = packet.get("_host", "unknown")
        prefix = f"{nick}!{user}@{host}"
        invited = key in self.invited
        override = packet.get("_flag_override") == "1"
        if not override:
            if "i" in self.flags and not invited and not self._invite_exempt(prefix):
                return self._reply(packet, "_error_place_enter_necessary_invitation")
            if self.is_banned(prefix) and not invited:
                return self._reply(packet, "_error_place_enter_banned")
            if self.key and packet.get("_key") != self.key and not invited:
                return self._reply(packet, "_error_place_enter_necessary_key")
            if self.limit and len(self.members) >= self.limit and not invited:
                return self._reply(packet, "_error_place_enter_full")
        route = self.router.lookup(packet.source)
        if route is None:
            if not self.members and self.on_empty is not None:
                self.on_empty(self)  # created for a stranger: do not linger empty
            return
        self.invited.discard(key)
        member = Member(
            packet.source,
            route,
            nick,
            user,
            host,
            packet.get("_realname"),
            packet.get("_account"),
            self.clock(),
        )
        if not self.members:
            member.modes = "o"
        enter_vars: dict[str, Value] = {"_realname": member.realname}
        if packet.get("_away"):
            enter_vars["_away"] = packet.get("_away")
        self.cast(self._event("_notice_place_enter", member, enter_vars))
        self.members[key] = member
        self.by_nick[casefold(nick)] = member
        echo = self._event(
            "_echo_place_enter",
            member,
            {
                "_realname": member.realname,
                "_topic": self.topic,
                "_list_members": [m.uniform for m in self.members.values()],
                "_list_members_nicks": [m.nick for m in self.members.values()],
            },
        )
        echo.routing["_target"] = packet.source
        echo.routing["_context"] = self.uniform
        if "_tag" in packet.routing:
            echo.routing["_tag_relay"] = packet.routing["_tag"]
        route.receive(echo)
        for observer in self.observers:
            observer.member_entered(self, member)

    def _leave(self, packet: Packet) -> None:
        member = self.members.get(normalize(packet.source))
        if member is None:
            if not packet.method.startswith("_request_leave_disconnect"):
                self._reply(packet, "_error_necessary_membership")
            return
        suffix = packet.method[len("_request_leave") :]
        vars: dict[str, Value] = {"_reason": packet.get("_reason")}
        event = self._event("_notice_place_leave" + suffix, member, vars)
        if packet.get("_id"):
            event.vars["_id"] = packet.get("_id")  # one QUIT per recipient across places
        self.cast(event)
        self._remove(member)

    def _nick_change(self, packet: Packet) -> None:
        member = self.members.pop(normalize(packet.source), None)
        if member is None:
            return
        self.by_nick.pop(casefold(member.nick), None)
        event = self._event(
            "_notice_place_nick",
            member,
            {
                "_nick_new": packet.get("_nick_new"),
                "_id": packet.get("_id") or new_id(),
            },
        )
        member.nick = packet.get("_nick_new")
        member.uniform = packet.get("_uniform_new")
        self.members[normalize(member.uniform)] = member
        self.by_nick[casefold(member.nick)] = member
        self.cast(event)

    def _person_update(self, packet: Packet) -> None:
        """Account, host or realname changes of a member (account-notify, chghost, setname)."""
        member = self.members.get(normalize(packet.source))
        if member is None:
            return
        for var, attr in (
            ("_account", "account"),
            ("_host", "host"),
            ("_user", "user"),
            ("_realname", "realname"),
        ):
            if var in packet.vars:
                setattr(member, attr, packet.get(var))

    # -- talking

    def _refuse_message(self, packet: Packet) -> None:
        if not packet.method.endswith("_notice"):  # NOTICE never gets automatic replies
            self._reply(packet, "_error_place_message_forbidden")

    def _message(self, packet: Packet) -> None:
        member = self.members.get(normalize(packet.source))
        prefix = packet.get("_prefix")
        if member is None:
            if "n" in self.flags or "m" in self.flags or self.is_banned(prefix):
                return self._refuse_message(packet)
        elif member.rank() > VOICE and ("m" in self.flags or self.is_banned(member.prefix)):
            return self._refuse_message(packet)
        vars: dict[str, Value] = {}
        for name in ("_tags", "_status", "_flag_bot"):
            if name in packet.vars:
                vars[name] = packet.vars[name]
        event = self._event(packet.method, member, vars, packet.body)
        if member is None:
            event.routing["_source_relay"] = packet.source
            event.vars["_prefix"] = prefix
            event.vars["_nick"] = packet.get("_nick")
        status = packet.get("_status")
        min_rank = (
            M.RANK_ORDER.index(next(m for m, s in M.RANKS.items() if s == status[0]))
            if status
            else None
        )
        self.cast(event, min_rank)
        if member is None:
            # Outside senders (-n) are not members, so they get their echo directly.
            route = self.router.lookup(packet.source)
            if route is not None:
                route.receive(event)

    # -- topic

    def _set_topic(self, packet: Packet) -> None:
        member = self._require_member(packet)
        if member is None:
            return
        if "t" in self.flags and member.rank() > OP and packet.get("_flag_override") != "1":
            return self._reply(packet, "_error_place_privilege_operator")
        topic = packet.get("_topic")[: self.config.limits.topiclen]
        self.topic = topic
        self.topic_setter = member.prefix
        self.topic_time = int(self.clock())
        self.cast(self._event("_notice_place_topic", member, {"_topic": topic}))

    # -- kicking and inviting

    def _kick(self, packet: Packet) -> None:
        actor = self._require_member(packet)
        if actor is None:
            return
        if actor.rank() > OP and packet.get("_flag_override") != "1":
            return self._reply(packet, "_error_place_privilege_operator")
        victim = self.by_nick.get(casefold(packet.get("_nick_target")))
        if victim is None:
            return self._reply(
                packet,
                "_error_place_target_membership",
                {"_nick_target": packet.get("_nick_target")},
            )
        reason = packet.get("_reason")[: self.config.limits.kicklen] or actor.nick
        self.cast(
            self._event(
                "_notice_place_leave_kick",
                actor,
                {
                    "_nick_target": victim.nick,
                    "_reason": reason,
                },
            )
        )
        self._remove(victim)

    def _invite(self, packet: Packet) -> None:
        actor = self._require_member(packet)
        if actor is None:
            return
        target_nick = packet.get("_nick_target")
        target = packet.get("_uniform_target")
        if "i" in self.flags and actor.rank() > OP:
            return self._reply(packet, "_error_place_privilege_operator")
        if normalize(target) in self.members:
            return self._reply(
                packet, "_error_place_invite_membership", {"_nick_target": target_nick}
            )
        self.invited.add(normalize(target))
        self._reply(packet, "_echo_place_invite", {"_nick_target": target_nick})
        notice = self._event("_notice_place_invite", actor, {"_nick_target": target_nick})
        notice.routing = {"_source": self.uniform, "_target": target}
        self.router.send(notice)
        # invite-notify: the members who could have invited too learn about it.
        notify = self._event("_notice_place_invited", actor, {"_nick_target": target_nick})
        self.cast(notify, OP if "i" in self.flags else None)

    # -- modes

    def _set_mode(self, packet: Packet) -> None:
        actor = self.members.get(normalize(packet.source))
        override = packet.get("_flag_override") == "1"
        parsed = M.parse_channel_modes(packet.get("_mode"), packet.get_list("_list_parameters"))
        for char in parsed.unknown:
            self._reply(packet, "_error_place_mode_unknown", {"_mode": char})
        applied: list[M.ModeChange] = []
        denied = False
        for change in parsed.changes:
            if change.mode in M.LIST_MODES and change.param is None:
                self._reply(packet, "_status_place_list", {"_mode": change.mode})
                continue
            if actor is None and not override:
                self._reply(packet, "_error_necessary_membership")
                return
            if not override and actor is not None and actor.rank() > OP:
                denied = True
                continue
            result = self._apply(packet, change)
            if result is not None:
                applied.append(result)
        if denied:
            self._reply(packet, "_error_place_privilege_operator")
        if applied:
            modestr, params = M.render_changes(applied)
            event = self._event(
                "_notice_place_mode",
                actor,
                {
                    "_mode": modestr,
                    "_list_parameters": params,
                },
            )
            if actor is None:
                event.vars["_prefix"] = packet.get("_prefix")
                event.routing["_source_relay"] = packet.source
            self.cast(event)

    def _apply(self, packet: Packet, change: M.ModeChange) -> M.ModeChange | None:
        mode, adding, param = change.mode, change.adding, change.param
        if mode in M.RANKS:
            if param is None:
                self._reply(packet, "_error_necessary_parameter", {"_mode": mode})
                return None
            target = self.by_nick.get(casefold(param))
            if target is None:
                self._reply(packet, "_error_place_target_membership", {"_nick_target": param})
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
            return self._apply_list(packet, mode, adding, M.normalize_mask(param))
        if mode == "k":
            if adding:
                if not param or " " in param or "," in param:
                    self._reply(packet, "_error_place_mode_invalid", {"_mode": "k"})
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
                self._reply(packet, "_error_place_mode_invalid", {"_mode": "l"})
                return None
            if limit <= 0:
                self._reply(packet, "_error_place_mode_invalid", {"_mode": "l"})
                return None
            self.limit = limit
            return M.ModeChange(True, "l", str(limit))
        if adding == (mode in self.flags):
            return None
        if adding:
            self.flags.add(mode)
        else:
            self.flags.discard(mode)
        return change

    def _apply_list(
        self, packet: Packet, mode: str, adding: bool, mask: str
    ) -> M.ModeChange | None:
        entries = self.lists[mode]
        folded = casefold(mask)
        existing = next((e for e in entries if casefold(e.mask) == folded), None)
        if adding:
            if existing is not None:
                return None
            if len(entries) >= self.config.limits.max_bans:
                self._reply(packet, "_error_place_list_full", {"_mode": mode, "_mask": mask})
                return None
            entries.append(ListEntry(mask, packet.get("_nick") or packet.source, int(self.clock())))
            return M.ModeChange(True, mode, mask)
        if existing is None:
            return None
        entries.remove(existing)
        return M.ModeChange(False, mode, existing.mask)


_DISPATCH = Dispatch(
    {
        "_request_enter": Place._enter,
        "_request_context_enter": Place._enter,
        "_request_leave": Place._leave,
        "_notice_place_leave": Place._leave,
        "_message_public": Place._message,
        "_request_set_topic": Place._set_topic,
        "_request_kick": Place._kick,
        "_request_invite": Place._invite,
        "_request_set_mode": Place._set_mode,
        "_notice_person_nick": Place._nick_change,
        "_notice_person_update": Place._person_update,
    }
)


class PlaceRegistry:
    """The places this server is home for; creates one when somebody enters."""

    def __init__(
        self, router: Router, host: str, config: Any, clock: Callable[[], float] = time.time
    ) -> None:
        self.router = router
        self.host = host
        self.config = config
        self.clock = clock
        self.places: dict[str, Place] = {}  # casefolded "#name" -> place
        self.observers: list[PlaceObserver] = []
        self._prefix = normalize(f"psyc://{host}/@")
        router.add_resolver(self._resolve)

    def get(self, channel: str) -> Place | None:
        return self.places.get(casefold(channel))

    def __len__(self) -> int:
        return len(self.places)

    def _resolve(self, key: str, packet: Packet) -> Place | None:
        if not key.startswith(self._prefix) or not packet.method.startswith(
            ("_request_enter", "_request_context_enter")
        ):
            return None
        name = "#" + unescape_place(key[len(self._prefix) :])
        return self.create(packet.get("_nick_place") or name)

    def create(self, display: str) -> Place:
        """Create (or return) the place for channel `display`, e.g. a registered one."""
        existing = self.places.get(casefold(display))
        if existing is not None:
            return existing
        place = Place(
            self.router, place_uniform(self.host, display[1:]), display, self.config, self.clock
        )
        place.on_empty = self._drop
        place.observers = self.observers
        self.places[casefold(display)] = place
        self.router.register(place)
        for observer in self.observers:
            observer.place_created(place)
        return place

    def _drop(self, place: Place) -> None:
        if self.places.get(place.folded) is place:
            del self.places[place.folded]
            self.router.unregister(place.uniform, place)
