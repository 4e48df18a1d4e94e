"""ChanServ: channel registration as a PSYC entity, `psyc://SERVER/$chanserv`.

People talk to it with `_message_private` packets (the IRC front-end maps
`PRIVMSG ChanServ` and the `CS` command to them) and it answers with
`_message_private_notice`, like NickServ.  What it does to a channel it asks
of the place with `service_request` packets, which a place honours for
everything (+r and ranks included); the members see the MODE, KICK or TOPIC
coming from ChanServ.

It is also a `PlaceObserver` of this server's places:

* `place_created`: a registered channel gets its saved modes, lists, topic and
  metadata back (at start-up every registered channel is created, empty);
* `member_entered`: a matching ban entry of the access list bans and kicks;
  otherwise the member gets the mode of its access level (founder +q, admin
  +a, op +o, halfop +h, voice +v) unless AMODE is off for it;
* `place_cast`: mode, topic and metadata changes are saved (committed at once, so an
  acknowledged change survives a crash); changes against the mode lock
  (SET MLOCK) are reverted, and so are topic changes under TOPICLOCK by
  anybody below op level on the access list;
* `keep_empty`: a registered channel stays when its last member leaves.

The place gives a registered (+r) channel's first member no automatic +o:
ranks come from the access list only.

When a founder's account is dropped (NickServ DROP) each of its channels goes
to the access-list admin (else op) added earliest whose account still exists;
a channel with neither is dropped.  The same is checked at start-up, for a
crash between the two writes.  Only a real drop counts (NickServ DROP, or its
home's drop notice or tombstone reaching a copy): when servers that were apart
merge and another registration of the name takes an account's place, or a
copy is missing from its home for a while, the founder stays.

In a network of servers each server's ChanServ keeps the channels whose home
is that server; a command about a channel homed elsewhere is forwarded to the
ChanServ of its home, which answers the person directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ircpsyc.channels import extbans as X
from ircpsyc.channels import modes as M
from ircpsyc.channels.flood import parse_flood
from ircpsyc.channels.modes import ADMIN, HALFOP, NO_RANK, OP, VOICE
from ircpsyc.channels.place import (
    Member,
    Place,
    PlaceObserver,
    PlaceRegistry,
    is_service,
    outranks,
    service_request,
)
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import casefold, is_uniform, normalize, service
from ircpsyc.services.common import SERVICES_HOST, CommandSpec, Request, Service, fmt_time
from ircpsyc.services.registrations import (
    BANNED,
    LEVEL_NAMES,
    AccessEntry,
    ChannelRegistrations,
    ChannelState,
    Registration,
    parse_level,
)

if TYPE_CHECKING:
    from ircpsyc.config import ServicesSection
    from ircpsyc.services.accounts import Account, Accounts

log = logging.getLogger(__name__)

NICK = "ChanServ"
USER = "ChanServ"
HOST = SERVICES_HOST
REALNAME = "Channel registration services"

MODES_PER_REQUEST = 4  # as many changes as one MODE line carries (MODES=4)
LOCKABLE = "".join(c for c in M.FLAG_MODES if c != "r") + "klf"
STATUS_NAMES = {"o": "an operator", "v": "voiced"}  # OP/VOICE: "bob is already voiced"


def service_uniform(host: str) -> str:
    return service(host, "chanserv")


def _is_mask(text: str) -> bool:
    return any(c in text for c in "!@:*?")


def subject_of(request: Request) -> X.Subject:
    """The person who sent a command, as ban masks see it."""
    nick_user, _, host = request.prefix.partition("@")
    nick, _, user = nick_user.partition("!")
    return X.Subject(
        nick or request.nick, user or request.nick, host, request.ip, "", request.account
    )


@dataclass(slots=True)
class MlockSpec:
    on: dict[str, str]  # letter -> parameter ("" for flags)
    off: set[str]

    def render(self) -> str:
        changes = [M.ModeChange(True, c, self.on[c] or None) for c in sorted(self.on)]
        changes += [M.ModeChange(False, c) for c in sorted(self.off)]
        modes, params = M.render_changes(changes)
        return " ".join([modes, *params]) if changes else ""


def parse_mlock(text: str) -> MlockSpec | str:
    """A mode lock like `+nt-s` or `+ntk-i key`; the reason as a string when it is bad."""
    words = text.split()
    if not words:
        return MlockSpec({}, set())
    parsed = M.parse_channel_modes(words[0], words[1:])
    bad = set(parsed.unknown) | {c.mode for c in parsed.changes if c.mode not in LOCKABLE}
    if bad:
        return f"These modes cannot be locked: {''.join(sorted(bad))}"
    on: dict[str, str] = {}
    off: set[str] = set()
    for change in parsed.changes:
        mode, param = change.mode, change.param or ""
        if not change.adding:
            on.pop(mode, None)
            off.add(mode)
            continue
        if mode == "k" and (not param or " " in param or "," in param or len(param) > 23):
            return "The key (+k) must be 1 to 23 characters without spaces or commas."
        if mode == "l":
            if not param.isdigit() or int(param) <= 0:
                return "The limit (+l) must be a positive number."
            param = str(int(param))
        if mode == "f":
            flood = parse_flood(param)
            if flood is None:
                return "The flood limit (+f) must be LINES:SECONDS or kLINES:SECONDS."
            param = str(flood)
        off.discard(mode)
        on[mode] = param
    return MlockSpec(on, off)


class ChanServ(Service, PlaceObserver):
    """The channel registration service entity, and the hooks of registered places."""

    NICK = NICK
    INTRO = f"{NICK} lets you register a channel and keep it yours."
    SHORT = "/CS <command>"
    WIDTH = 10
    casts_messages = False  # it keeps modes, topic and metadata: `place_cast` below

    def __init__(
        self,
        router: Router,
        host: str,
        places: PlaceRegistry,
        registrations: ChannelRegistrations,
        accounts: Accounts,
        clock: Callable[[], float],
        settings: Callable[[], ServicesSection],
    ) -> None:
        super().__init__(router, host, service_uniform(host), f"{NICK}!{USER}@{HOST}", clock)
        self.places = places
        self.regs = registrations
        self.accounts = accounts
        self.settings = settings
        # The home server of a channel (server linking sets it); here: this one.
        self.home: Callable[[str], str] = lambda channel: self.host
        # Where a name lives by configuration alone (its pin or hash), and how to tell
        # the network that a renamed channel stays here (server linking sets both).
        self.hashed_home: Callable[[str], str] = lambda channel: self.host
        self.keep_home: Callable[[str], None] = lambda channel: None
        self._busy: set[str] = set()  # places whose corrections are being cast
        self._secret = secrets.token_bytes(16)  # DROP confirmation codes

    def start(self) -> None:
        """Recreate every registered channel (empty, with its settings); settle founders
        whose account disappeared while the server was down."""
        for reg in self.regs:
            if self.accounts.get(reg.founder) is None:
                self._founder_gone(reg)
        for reg in self.regs:
            for entry in reg.privileged():
                if self.accounts.get(entry.name) is None:
                    self.regs.forget_account(entry.name)
            if reg.state.home and casefold(reg.state.home) == casefold(self.host):
                self.keep_home(reg.name)  # renamed here: its new name hashes elsewhere
            home = self.home(reg.name)
            if casefold(home) != casefold(self.host):
                # [network] servers changed: the channel now hashes elsewhere, and that
                # server has no registration.  Recreating it here would be unreachable.
                log.warning(
                    "%s is registered here but its home is now %s: pin it with "
                    '[channels.pin] "%s" = "%s" to keep its registration',
                    reg.name,
                    home,
                    reg.name,
                    self.host,
                )
                continue
            self.places.create(reg.name)

    # -- packets in

    def receive(self, packet: Packet) -> None:
        if packet.method == V.MESSAGE_PRIVATE:
            self.command(packet)
        # Notices, errors from places (a target left meanwhile) and echoes: no answer.

    def route(self, spec: CommandSpec, request: Request, packet: Packet) -> bool:
        """A command about a channel homed on another server runs at its ChanServ."""
        if spec.channel_first and request.args and request.args[0].startswith("#"):
            home = self.home(request.args[0])
            if home and home != self.host and not packet.get(V.FLAG_FORWARDED):
                forwarded = packet.copy(_target=service_uniform(home))
                forwarded.vars[V.FLAG_FORWARDED] = "1"
                self.router.send(forwarded)
                return False
        return True

    # -- packets out

    def _ask(self, place: Place, method: str, vars: dict[str, Value]) -> None:
        self.router.send(service_request(self.uniform, place.uniform, method, vars, self.prefix))

    def set_modes(self, place: Place, changes: list[M.ModeChange]) -> None:
        for start in range(0, len(changes), MODES_PER_REQUEST):
            modes, params = M.render_changes(changes[start : start + MODES_PER_REQUEST])
            self._ask(place, V.REQUEST_SET_MODE, {V.MODE: modes, V.LIST_PARAMETERS: params})

    def kick(self, place: Place, nick: str, reason: str) -> None:
        self._ask(place, V.REQUEST_KICK, {V.NICK_TARGET: nick, V.REASON: reason})

    # -- registered places

    def registered(self, place: Place) -> Registration | None:
        """The registration of a place homed here (not of a replica)."""
        reg = self.regs.get(place.folded)
        if reg is None or not self.places.is_home_of(place):
            return None
        return reg

    def place_of(self, reg: Registration) -> Place:
        return self.places.place(reg.name) or self.places.create(reg.name)

    def place_created(self, place: Place) -> None:
        reg = self.regs.get(place.folded)
        if reg is None:
            return
        reg.state.apply(place, "r")

    def member_entered(self, place: Place, member: Member) -> None:
        reg = self.registered(place)
        if reg is None:
            return
        if reg.level_of(member.account) == NO_RANK and self._akick(reg, place, member):
            return
        self._give_mode(reg, place, member)

    def place_cast(self, place: Place, packet: Packet) -> None:
        method = packet.method
        if method not in (V.NOTICE_PLACE_MODE, V.NOTICE_PLACE_TOPIC, V.NOTICE_PLACE_METADATA):
            return
        reg = self.registered(place)
        if reg is None or place.folded in self._busy:
            return  # corrections cast while correcting: the outer call saves
        self._busy.add(place.folded)
        try:
            if method == V.NOTICE_PLACE_TOPIC:
                self._topic_changed(reg, place, packet)
            elif method == V.NOTICE_PLACE_MODE:
                self._enforce_mlock(reg, place)
            self._save(reg, place)
        finally:
            self._busy.discard(place.folded)

    def keep_empty(self, place: Place) -> bool:
        return self.registered(place) is not None

    def rename_refusal(self, place: Place, new_name: str, request: Packet) -> tuple[str, str]:
        if casefold(new_name) != place.folded and self.regs.get(new_name) is not None:
            return V.ERROR_PLACE_RENAME_IN_USE, f"{new_name} is registered"
        reg = self.registered(place)
        if (
            reg is not None
            and not is_service(request.source)
            and request.get(V.FLAG_OVERRIDE) != "1"
            and not reg.is_founder(request.get(V.ACCOUNT))
        ):
            return (
                V.ERROR_PLACE_RENAME_FORBIDDEN,
                f"Only the founder ({reg.founder}) may rename a registered channel",
            )
        return "", ""

    def place_renamed(self, place: Place, old_name: str, old_uniform: str) -> None:
        reg = self.regs.get(old_name)
        if reg is None or not self.places.is_home_of(place):
            return
        hashed = casefold(self.hashed_home(place.name)) == casefold(self.host)
        self.regs.rename(reg, place.name, "" if hashed else self.host.lower())

    def _save(self, reg: Registration, place: Place) -> None:
        state = ChannelState.of(place)
        state.home = reg.state.home
        if state != reg.state:
            self.regs.save_state(reg, state)

    def _give_mode(self, reg: Registration, place: Place, member: Member) -> None:
        letter = reg.auto_mode(member.account)
        if letter and letter not in member.modes:
            self.set_modes(place, [M.ModeChange(True, letter, member.nick)])

    def _akick(self, reg: Registration, place: Place, member: Member) -> bool:
        """Ban and kick a member that a ban entry matches; whether it did."""
        subject = member.subject()
        entry = next((e for e in reg.bans() if X.matches(e.name, subject)), None)
        if entry is None:
            return False
        if not any(casefold(e.mask) == casefold(entry.name) for e in place.lists["b"]):
            self.set_modes(place, [M.ModeChange(True, "b", entry.name)])
        if place.member(member.uniform) is not None:
            self.kick(place, member.nick, entry.reason or "You are banned from this channel")
        return True

    def _topic_changed(self, reg: Registration, place: Place, packet: Packet) -> None:
        actor = packet.routing.get(V.SOURCE_RELAY, "")
        if not reg.topiclock or is_service(actor):
            return
        member = place.member(actor)
        account = member.account if member is not None else packet.get(V.ACCOUNT)
        if reg.level_of(account) <= OP:
            return
        saved = reg.state
        self._ask(place, V.REQUEST_SET_TOPIC, {V.TOPIC: saved.topic})
        place.date_topic(saved.topic_setter, saved.topic_time)
        self.send_notice(
            actor,
            packet.get(V.NICK),
            f"The topic of {place.name} is locked (TOPICLOCK): only its ops may change it.",
        )

    def _mlock_fixes(self, reg: Registration, place: Place) -> list[M.ModeChange]:
        lock = parse_mlock(reg.mlock)
        if isinstance(lock, str):
            return []
        fixes: list[M.ModeChange] = []
        for letter, param in sorted(lock.on.items()):
            if letter == "k":
                if place.key != param:
                    fixes.append(M.ModeChange(True, "k", param))
            elif letter == "l":
                if str(place.limit) != param:
                    fixes.append(M.ModeChange(True, "l", param))
            elif letter == "f":
                if str(place.flood or "") != param:
                    fixes.append(M.ModeChange(True, "f", param))
            elif letter not in place.flags:
                fixes.append(M.ModeChange(True, letter))
        for letter in sorted(lock.off):
            if letter == "k":
                if place.key:
                    fixes.append(M.ModeChange(False, "k", "*"))
            elif letter == "l":
                if place.limit:
                    fixes.append(M.ModeChange(False, "l"))
            elif letter == "f":
                if place.flood is not None:
                    fixes.append(M.ModeChange(False, "f"))
            elif letter in place.flags:
                fixes.append(M.ModeChange(False, letter))
        return fixes

    def _enforce_mlock(self, reg: Registration, place: Place) -> None:
        if reg.mlock:
            fixes = self._mlock_fixes(reg, place)
            if fixes:
                self.set_modes(place, fixes)

    def sync_account(self, uniform: str, channels: list[str]) -> None:
        """A person logged in: give it its modes in the registered `channels` it is in."""
        for channel in channels:
            place = self.places.place(channel)
            reg = self.registered(place) if place is not None else None
            member = place.member(uniform) if place is not None else None
            if reg is not None and place is not None and member is not None:
                self._give_mode(reg, place, member)

    def _members_of(self, place: Place, account: str) -> list[Member]:
        folded = casefold(account)
        return [m for m in place.members.values() if m.account and casefold(m.account) == folded]

    def _founder_changed(self, reg: Registration, old: str) -> None:
        """After a transfer: the old founder's +q goes, the new founder gets it."""
        place = self.places.place(reg.name)
        if place is None:
            return
        takes = [
            M.ModeChange(False, "q", m.nick) for m in self._members_of(place, old) if "q" in m.modes
        ]
        if takes:
            self.set_modes(place, takes)
        for member in self._members_of(place, reg.founder):
            self._give_mode(reg, place, member)

    def _drop_registration(self, reg: Registration) -> None:
        self.regs.drop(reg)
        place = self.places.place(reg.name)
        if place is None:
            return
        if "r" in place.flags:
            self.set_modes(place, [M.ModeChange(False, "r")])
        place.discard_if_empty()

    # -- accounts going away

    def account_dropped(self, account: Account) -> None:
        """NickServ DROP: the account's channels go to a successor or are dropped."""
        for reg in self.regs.founded_by(account.name):
            self._founder_gone(reg)
        self.regs.forget_account(account.name)

    def _founder_gone(self, reg: Registration) -> None:
        old = reg.founder
        candidates = sorted(
            (
                e
                for e in reg.privileged()
                if e.level <= OP
                and not reg.is_founder(e.name)
                and self.accounts.get(e.name) is not None
            ),
            key=lambda e: (e.level, e.added_at),
        )
        if candidates:
            successor = self.accounts.get(candidates[0].name)
            assert successor is not None
            self.regs.set_founder(reg, successor.name)
            log.info("%s: founder %s is gone, %s succeeds", reg.name, old, successor.name)
            self._founder_changed(reg, old)
        else:
            log.info("%s: founder %s is gone and nobody succeeds; dropped", reg.name, old)
            self._drop_registration(reg)

    # -- helpers for commands

    def _channel(self, request: Request, name: str) -> tuple[Registration, Place] | None:
        reg = self.regs.get(name)
        if reg is None:
            self.notice(request, f"{name} is not registered.")
            return None
        return reg, self.place_of(reg)

    def _need(self, request: Request, reg: Registration, level: int, action: str) -> int | None:
        """The requester's level if it is `level` or above; else a refusal and None."""
        if not request.account:
            self.notice(request, f"You must be logged in to {action}.")
            return None
        have = reg.level_of(request.account)
        if have > level:
            self.notice(
                request,
                f"Access denied: you need {LEVEL_NAMES[level]} access to {reg.name} to {action}.",
            )
            return None
        return have

    def _target_level(self, reg: Registration, member: Member) -> int:
        return reg.level_of(member.account)

    def _drop_code(self, reg: Registration) -> str:
        data = f"{reg.folded}\0{reg.founder}\0{reg.registered_at}".encode()
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()[:8]

    # -- commands

    def cmd_register(self, request: Request) -> None:
        name = request.args[0]
        if not request.account:
            self.notice(
                request,
                "You must be logged in to register a channel: /msg NickServ IDENTIFY <password>",
            )
            return
        account = self.accounts.get(request.account)
        if account is None:
            self.notice(request, f"The account {request.account} no longer exists.")
            return
        if not name.startswith("#") or len(name) < 2 or is_uniform(name[1:]):
            self.notice(request, f"{name} is not a channel name here.")
            return
        existing = self.regs.get(name)
        if existing is not None:
            self.notice(request, f"{existing.name} is already registered to {existing.founder}.")
            return
        place = self.places.place(name)
        member = place.member(request.source) if place is not None else None
        if place is None or member is None:
            self.notice(request, f"You must be in {name} to register it.")
            return
        if member.rank() > OP:
            self.notice(request, f"You must be a channel operator in {place.name} to register it.")
            return
        limit = self.settings().chanserv_max_channels
        if len(self.regs.founded_by(account.name)) >= limit:
            self.notice(request, f"You already founded {limit} channels, the most allowed.")
            return
        state = ChannelState.of(place)
        state.flags = "".join(sorted(set(state.flags) | {"r"}))
        if casefold(self.hashed_home(place.name)) != casefold(self.host):
            state.home = self.host.lower()  # renamed here earlier: it stays here
        reg = self.regs.register(place.name, account.name, state)  # committed, or raises
        self.set_modes(place, [M.ModeChange(True, "r")])
        self._give_mode(reg, place, member)
        self.notice(request, f"{place.name} is now registered to {account.name}.")

    def cmd_info(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        level = reg.level_of(request.account)
        self.notice(request, f"Information on {reg.name}:")
        self.notice(request, f"Founder: {reg.founder}")
        self.notice(request, f"Registered: {fmt_time(reg.registered_at)}")
        self.notice(request, f"Topic lock: {'on' if reg.topiclock else 'off'}")
        lock = parse_mlock(reg.mlock)
        shown = reg.mlock
        if isinstance(lock, MlockSpec) and "k" in lock.on and level > OP:
            lock.on["k"] = "*"
            shown = lock.render()
        self.notice(request, f"Mode lock: {shown or 'none'}")
        if place.topic and not place.secret:
            self.notice(request, f"Topic: {place.topic}")
        if level <= VOICE:
            counts = f"{len(reg.privileged())} with access, {len(reg.bans())} banned"
            self.notice(request, f"Access list: {counts}")
            self.notice(request, f"Your access: {LEVEL_NAMES[level]}")
        self.notice(request, "End of information.")

    # ACCESS

    def cmd_access(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        sub = request.args[1].upper()
        rest = request.args[2:]
        if sub == "LIST":
            self._access_list(request, reg)
        elif sub == "ADD" and len(rest) >= 2:
            self._access_add(request, reg, place, rest[0], rest[1], rest[2:])
        elif sub == "DEL" and rest:
            self._access_del(request, reg, rest[0])
        else:
            self.notice(request, f"Syntax: {COMMANDS['ACCESS'].syntax}")

    def _access_list(self, request: Request, reg: Registration) -> None:
        if self._need(request, reg, VOICE, "see the access list") is None:
            return
        self.notice(request, f"Access list of {reg.name}:")
        auto = "" if reg.founder_auto else " (no automatic mode)"
        self.notice(request, f"  founder  {reg.founder}{auto}")
        for entry in sorted(reg.access.values(), key=lambda e: (e.level, e.added_at)):
            text = f"  {LEVEL_NAMES[entry.level]:<8} {entry.name}"
            if entry.is_ban:
                if entry.reason:
                    text += f" ({entry.reason})"
            elif not entry.auto:
                text += " (no automatic mode)"
            text += f", added by {entry.setter} on {fmt_time(entry.added_at)}"
            self.notice(request, text)
        self.notice(request, "End of list.")

    def _access_add(
        self,
        request: Request,
        reg: Registration,
        place: Place,
        target: str,
        level_name: str,
        rest: list[str],
    ) -> None:
        have = self._need(request, reg, ADMIN, "change the access list")
        if have is None:
            return
        level = parse_level(level_name)
        if level is None:
            self.notice(request, "The level must be ADMIN, OP, HALFOP, VOICE or BAN.")
            return
        if level <= have:
            self.notice(
                request,
                f"You may only add levels below yours ({LEVEL_NAMES[have]}) to {reg.name}.",
            )
            return
        reason = ""
        auto = True
        if level == BANNED:
            if _is_mask(target):
                name = X.normalize_ban(target)
                if name is None:
                    self.notice(request, f"{target} is not a valid ban mask.")
                    return
            else:
                account = self.accounts.get(target)
                if account is None:
                    self.notice(
                        request,
                        f"{target} is not a registered account; to ban a nick use {target}!*@*",
                    )
                    return
                name = f"{X.ACCOUNT}:{account.name}"
            reason = " ".join(rest)[:200]
        else:
            account = self.accounts.get(target)
            if account is None:
                self.notice(request, f"{target} is not a registered account.")
                return
            if reg.is_founder(account.name):
                self.notice(request, f"{account.name} is the founder of {reg.name}.")
                return
            name = account.name
            if rest and rest[0].upper() in ("NOAUTO", "-AUTO"):
                auto = False
        existing = reg.access.get(casefold(name))
        if existing is not None and existing.level <= have:
            self.notice(request, f"You may not change the entry of {existing.name}.")
            return
        if existing is None and len(reg.access) >= self.settings().chanserv_max_access:
            self.notice(request, f"The access list of {reg.name} is full.")
            return
        entry = AccessEntry(name, level, auto, request.account, self.clock(), reason)
        self.regs.put_access(reg, entry)
        verb = "changed" if existing is not None else "added"
        self.notice(request, f"{name} {verb} on the access list of {reg.name} as {level_name}.")
        if entry.is_ban:
            for member in list(place.members.values()):
                if reg.level_of(member.account) == NO_RANK and X.matches(name, member.subject()):
                    self._akick(reg, place, member)
        else:
            for member in self._members_of(place, name):
                self._give_mode(reg, place, member)

    def _access_del(self, request: Request, reg: Registration, target: str) -> None:
        if not request.account:
            self.notice(request, "You must be logged in to change the access list.")
            return
        if _is_mask(target):
            key = casefold(X.normalize_ban(target) or target)
        else:
            key = casefold(target)
            if key not in reg.access:
                key = casefold(f"{X.ACCOUNT}:{target}")  # an account's ban entry
        entry = reg.access.get(key)
        if entry is None:
            self.notice(request, f"{target} is not on the access list of {reg.name}.")
            return
        own = not entry.is_ban and casefold(request.account) == key
        if not own:
            have = self._need(request, reg, ADMIN, "change the access list")
            if have is None:
                return
            if entry.level <= have:
                self.notice(request, f"You may not remove {entry.name}.")
                return
        self.regs.del_access(reg, key)
        self.notice(request, f"{entry.name} removed from the access list of {reg.name}.")

    def cmd_amode(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        if len(request.args) >= 3:
            target, value = request.args[1], request.args[2].upper()
        else:
            target, value = request.account, request.args[1].upper()
        if value not in ("ON", "OFF"):
            self.notice(request, f"Syntax: {COMMANDS['AMODE'].syntax}")
            return
        if not request.account:
            self.notice(request, "You must be logged in to change automatic modes.")
            return
        on = value == "ON"
        own = casefold(target) == casefold(request.account)
        if reg.is_founder(target):
            if not own:
                self.notice(request, f"Only {reg.founder} may change their automatic mode.")
                return
            self.regs.set_options(reg, founder_auto=on)
        else:
            entry = reg.access.get(casefold(target))
            if entry is None or entry.is_ban:
                self.notice(request, f"{target} is not on the access list of {reg.name}.")
                return
            if not own:
                have = self._need(request, reg, ADMIN, "change automatic modes of others")
                if have is None:
                    return
                if entry.level <= have:
                    self.notice(request, f"You may not change the entry of {entry.name}.")
                    return
            self.regs.set_auto(reg, entry.key, on)
        who = reg.founder if reg.is_founder(target) else reg.access[casefold(target)].name
        self.notice(request, f"Automatic mode of {who} in {reg.name} is now {value}.")
        if on:
            for member in self._members_of(place, who):
                self._give_mode(reg, place, member)

    # SET and TOPICLOCK

    def cmd_set(self, request: Request) -> None:
        name = f"SET {request.args[1].upper()}"
        spec = SET_COMMANDS.get(name)
        if spec is None:
            self.notice(request, f"Unknown setting {request.args[1]}. Try HELP SET.")
            return
        args = [request.args[0], *request.args[2:]]
        if len(args) < spec.min_args:
            self.notice(request, f"Not enough parameters. Syntax: {spec.syntax}")
            return
        spec.handler(self, dataclasses.replace(request, args=args))

    def cmd_topiclock(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, _place = found
        value = request.args[1].upper()
        if value not in ("ON", "OFF"):
            self.notice(request, "Syntax: TOPICLOCK <#channel> ON|OFF")
            return
        if self._need(request, reg, ADMIN, "change the topic lock") is None:
            return
        self.regs.set_options(reg, topiclock=value == "ON")
        self.notice(request, f"Topic lock of {reg.name} is now {value}.")

    def cmd_mlock(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        if self._need(request, reg, ADMIN, "change the mode lock") is None:
            return
        text = " ".join(request.args[1:])
        if text.upper() in ("OFF", "NONE", "-"):
            text = ""
        lock = parse_mlock(text)
        if isinstance(lock, str):
            self.notice(request, lock)
            return
        rendered = lock.render()
        self.regs.set_options(reg, mlock=rendered)
        self.notice(request, f"Mode lock of {reg.name} is now {rendered or 'off'}.")
        self._busy.add(place.folded)
        try:
            self._enforce_mlock(reg, place)
            self._save(reg, place)
        finally:
            self._busy.discard(place.folded)

    # OP DEOP VOICE DEVOICE

    def _status(self, request: Request, letter: str, adding: bool) -> None:
        args = list(request.args)
        channel = args.pop(0) if args and args[0].startswith("#") else ""
        nick = args[0] if args else request.nick
        if channel:
            found = self._channel(request, channel)
            if found is None:
                return
            targets = [found]
        else:
            targets = []
            for reg in self.regs:
                place = self.places.place(reg.name)
                if place is not None and place.member_by_nick(nick) is not None:
                    targets.append((reg, place))
            if not targets:
                verb = ("" if adding else "DE") + ("OP" if letter == "o" else "VOICE")
                self.notice(request, f"{nick} is in no registered channel: {verb} #channel [nick]")
                return
        for reg, place in targets:
            self._status_one(request, reg, place, letter, adding, nick)

    def _status_one(
        self,
        request: Request,
        reg: Registration,
        place: Place,
        letter: str,
        adding: bool,
        nick: str,
    ) -> None:
        member = place.member_by_nick(nick)
        if member is None:
            self.notice(request, f"{nick} is not in {place.name}.")
            return
        own = normalize(member.uniform) == normalize(request.source)
        rank = M.RANK_ORDER.index(letter)
        if own and not adding:
            pass  # anybody may drop their own ranks
        else:
            need = rank if own else min(rank, HALFOP)  # others: +o needs op, +v halfop
            verb = ("give" if adding else "take") + f" +{letter}"
            have = self._need(request, reg, need, verb + ("" if own else " to others"))
            if have is None:
                return
            if not own and not adding and not outranks(have, self._target_level(reg, member)):
                self.notice(request, f"You may not do that to {member.nick}.")
                return
        if (letter in member.modes) == adding:  # nothing to change: say so, set no MODE
            status = STATUS_NAMES[letter]
            state = "already" if adding else "not"
            self.notice(request, f"{member.nick} is {state} {status} on {place.name}.")
            return
        self.set_modes(place, [M.ModeChange(adding, letter, member.nick)])

    def cmd_op(self, request: Request) -> None:
        self._status(request, "o", True)

    def cmd_deop(self, request: Request) -> None:
        self._status(request, "o", False)

    def cmd_voice(self, request: Request) -> None:
        self._status(request, "v", True)

    def cmd_devoice(self, request: Request) -> None:
        self._status(request, "v", False)

    # KICK BAN UNBAN

    def cmd_kick(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        have = self._need(request, reg, HALFOP, "kick")
        if have is None:
            return
        member = place.member_by_nick(request.args[1])
        if member is None:
            self.notice(request, f"{request.args[1]} is not in {place.name}.")
            return
        own = normalize(member.uniform) == normalize(request.source)
        if not own and not outranks(have, self._target_level(reg, member)):
            self.notice(request, f"You may not kick {member.nick}.")
            return
        reason = " ".join(request.args[2:]) or "Requested"
        self.kick(place, member.nick, f"{reason} ({request.nick})")

    def cmd_ban(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        have = self._need(request, reg, HALFOP, "ban")
        if have is None:
            return
        target = request.args[1]
        member = place.member_by_nick(target)
        if member is not None:
            if not outranks(have, self._target_level(reg, member)):
                self.notice(request, f"You may not ban {member.nick}.")
                return
            mask = f"*!*@{member.host}"
        else:
            normalized = X.normalize_ban(target) if _is_mask(target) else None
            if normalized is None:
                self.notice(request, f"{target} is not in {place.name} and is not a ban mask.")
                return
            mask = normalized
        reason = " ".join(request.args[2:]) or "Banned"
        if not any(casefold(e.mask) == casefold(mask) for e in place.lists["b"]):
            self.set_modes(place, [M.ModeChange(True, "b", mask)])
        kicked = 0
        for victim in list(place.members.values()):
            if normalize(victim.uniform) == normalize(request.source):
                continue
            if X.is_mute(mask) or not X.matches(mask, victim.subject()):
                continue
            if not outranks(have, self._target_level(reg, victim)):
                continue
            self.kick(place, victim.nick, f"{reason} ({request.nick})")
            kicked += 1
        self.notice(request, f"{mask} is banned from {place.name} ({kicked} kicked).")

    def cmd_unban(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, place = found
        target = request.args[1] if len(request.args) > 1 else ""
        own = not target or casefold(target) == casefold(request.nick)
        if self._need(request, reg, VOICE if own else HALFOP, "unban") is None:
            return
        entries = place.lists["b"]
        if own:
            subject = subject_of(request)
            masks = [e.mask for e in entries if X.matches(e.mask, subject)]
            who = "you"
        elif _is_mask(target):
            wanted = X.normalize_ban(target)
            masks = [e.mask for e in entries if wanted and casefold(e.mask) == casefold(wanted)]
            who = wanted or target
        else:
            member = place.member_by_nick(target)
            if member is None:
                self.notice(request, f"{target} is not in {place.name}; give a ban mask.")
                return
            subject = member.subject()
            masks = [e.mask for e in entries if X.matches(e.mask, subject)]
            who = member.nick
        if not masks:
            self.notice(request, f"No bans on {place.name} match {who}.")
            return
        self.set_modes(place, [M.ModeChange(False, "b", mask) for mask in masks])
        self.notice(request, f"Removed {len(masks)} ban(s) matching {who} from {place.name}.")

    # TRANSFER DROP

    def cmd_transfer(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, _place = found
        if not reg.is_founder(request.account):
            self.notice(request, f"Access denied: only the founder may transfer {reg.name}.")
            return
        account = self.accounts.get(request.args[1])
        if account is None:
            self.notice(request, f"{request.args[1]} is not a registered account.")
            return
        if reg.is_founder(account.name):
            self.notice(request, f"{account.name} already is the founder of {reg.name}.")
            return
        limit = self.settings().chanserv_max_channels
        if len(self.regs.founded_by(account.name)) >= limit:
            self.notice(
                request, f"{account.name} already founded {limit} channels, the most allowed."
            )
            return
        old = reg.founder
        self.regs.set_founder(reg, account.name)  # committed before the answer
        self.notice(request, f"{account.name} is now the founder of {reg.name}.")
        self._founder_changed(reg, old)

    def cmd_drop(self, request: Request) -> None:
        found = self._channel(request, request.args[0])
        if found is None:
            return
        reg, _place = found
        if not reg.is_founder(request.account):
            self.notice(request, f"Access denied: only the founder may drop {reg.name}.")
            return
        code = self._drop_code(reg)
        if len(request.args) < 2:
            self.notice(
                request,
                f"This drops {reg.name} with its settings and access list for good. "
                f"To confirm, type: /msg {NICK} DROP {reg.name} {code}",
            )
            return
        if not hmac.compare_digest(request.args[1].lower(), code):
            self.notice(request, f"Wrong confirmation code; {reg.name} was not dropped.")
            return
        self._drop_registration(reg)
        self.notice(request, f"{reg.name} has been dropped.")


COMMANDS: dict[str, CommandSpec] = {
    "HELP": CommandSpec(
        ChanServ.cmd_help,
        0,
        "HELP [command]",
        "Lists the commands, or explains one.",
        ("Without a parameter, lists every command; with one, explains it.",),
        channel_first=False,
    ),
    "REGISTER": CommandSpec(
        ChanServ.cmd_register,
        1,
        "REGISTER <#channel>",
        "Registers a channel to your account.",
        (
            "Registers a channel you are in and are operator (or above) of, with your",
            "account as its founder; you must be logged in to NickServ. A registered",
            "channel (+r) keeps its modes, ban, exception and invite lists and topic,",
            "stays when empty and survives restarts; its first member gets no +o any",
            "more: ranks come from the access list (see ACCESS).",
        ),
    ),
    "INFO": CommandSpec(
        ChanServ.cmd_info,
        1,
        "INFO <#channel>",
        "Shows information about a registered channel.",
        ("Shows the founder, when it was registered, the topic and mode locks.",),
    ),
    "ACCESS": CommandSpec(
        ChanServ.cmd_access,
        2,
        "ACCESS <#channel> ADD <account|mask> <level> [NOAUTO|reason] | DEL <account|mask> | LIST",
        "Manages who has which rank in a channel.",
        (
            "Levels, highest first: founder (the owner, +q), ADMIN (+a), OP (+o),",
            "HALFOP (+h), VOICE (+v), and BAN: a ban entry (a mask, or an account, which",
            "means a:account) is banned and kicked when it joins. Members get the mode of",
            "their level when they join or log in, unless the entry says NOAUTO (see",
            "AMODE). Admins and the founder change the list, only below their own level;",
            "anybody may remove their own entry. LIST is for anybody with access.",
        ),
    ),
    "AMODE": CommandSpec(
        ChanServ.cmd_amode,
        2,
        "AMODE <#channel> [account] ON|OFF",
        "Turns the automatic mode on join on or off.",
        (
            "Whether you (or, for admins and the founder, an account below them) get the",
            "mode of your access level when you join the channel or log in.",
        ),
    ),
    "SET": CommandSpec(
        ChanServ.cmd_set,
        2,
        "SET <#channel> TOPICLOCK ON|OFF | SET <#channel> MLOCK <modes>|OFF",
        "Changes the topic lock or the mode lock.",
        (
            "SET <#channel> TOPICLOCK ON|OFF: the same as TOPICLOCK.",
            "SET <#channel> MLOCK <modes> [parameters]|OFF: modes that are kept set or",
            "unset, e.g. +nt-s, +ntk-i key or +l 50; changes against it are reverted.",
            "Admins and the founder may change these.",
        ),
    ),
    "TOPICLOCK": CommandSpec(
        ChanServ.cmd_topiclock,
        2,
        "TOPICLOCK <#channel> ON|OFF",
        "Lets only ops change the topic.",
        (
            "ON: a topic change by anybody below op level on the access list (halfops,",
            "and channel operators who are not on the list) is reverted.",
            "Admins and the founder may change it.",
        ),
    ),
    "OP": CommandSpec(
        ChanServ.cmd_op,
        0,
        "OP [#channel] [nick]",
        "Gives +o to you or somebody.",
        (
            "Gives +o to you, or to nick, in the channel; without a channel, in every",
            "registered channel they are in. Needs op access.",
        ),
    ),
    "DEOP": CommandSpec(
        ChanServ.cmd_deop,
        0,
        "DEOP [#channel] [nick]",
        "Takes +o from you or somebody.",
        (
            "Takes +o from you, or from nick if your access is above theirs (op access",
            "at least); without a channel, in every registered channel they are in.",
        ),
    ),
    "VOICE": CommandSpec(
        ChanServ.cmd_voice,
        0,
        "VOICE [#channel] [nick]",
        "Gives +v to you or somebody.",
        (
            "Gives +v to you (voice access needed) or to nick (halfop access needed);",
            "without a channel, in every registered channel they are in.",
        ),
    ),
    "DEVOICE": CommandSpec(
        ChanServ.cmd_devoice,
        0,
        "DEVOICE [#channel] [nick]",
        "Takes +v from you or somebody.",
        (
            "Takes +v from you, or from nick if your access is above theirs (halfop",
            "access at least); without a channel, in every registered channel they are in.",
        ),
    ),
    "KICK": CommandSpec(
        ChanServ.cmd_kick,
        2,
        "KICK <#channel> <nick> [reason]",
        "Kicks somebody through ChanServ.",
        ("Kicks nick from the channel. Needs halfop access, and more access than nick's.",),
    ),
    "BAN": CommandSpec(
        ChanServ.cmd_ban,
        2,
        "BAN <#channel> <nick|mask> [reason]",
        "Bans and kicks somebody through ChanServ.",
        (
            "Bans nick (as *!*@host) or a mask, and kicks the members it matches whose",
            "access is below yours. Needs halfop access.",
        ),
    ),
    "UNBAN": CommandSpec(
        ChanServ.cmd_unban,
        1,
        "UNBAN <#channel> [nick|mask]",
        "Lifts bans on you or somebody.",
        (
            "Without a nick, lifts every ban that matches you (voice access needed), so",
            "you can join again; with a nick or a mask, the bans matching them (halfop",
            "access needed).",
        ),
    ),
    "TRANSFER": CommandSpec(
        ChanServ.cmd_transfer,
        2,
        "TRANSFER <#channel> <account>",
        "Gives the channel to another account.",
        (
            "Makes account the founder of the channel instead of you; you keep no access",
            "unless they add you. Only the founder may do this.",
        ),
    ),
    "DROP": CommandSpec(
        ChanServ.cmd_drop,
        1,
        "DROP <#channel> [code]",
        "Unregisters a channel.",
        (
            "Drops the registration with its settings and access list. Without a code,",
            "tells you the confirmation code to repeat the command with. Only the founder",
            "may do this. When the founder's account is dropped, the channel goes to the",
            "earliest added admin (else op) of its access list, or is dropped if there",
            "is none.",
        ),
    ),
}

SET_COMMANDS: dict[str, CommandSpec] = {
    "SET TOPICLOCK": CommandSpec(
        ChanServ.cmd_topiclock,
        2,
        "SET <#channel> TOPICLOCK ON|OFF",
        "Lets only ops change the topic.",
        COMMANDS["TOPICLOCK"].help,
    ),
    "SET MLOCK": CommandSpec(
        ChanServ.cmd_mlock,
        2,
        "SET <#channel> MLOCK <modes> [parameters] | SET <#channel> MLOCK OFF",
        "Keeps modes set or unset.",
        (
            "Modes that are kept set (+) or unset (-): any of " + LOCKABLE + "; +k, +l and +f",
            "take their parameter, e.g. SET #chan MLOCK +ntk-s key. A change against the",
            "lock is reverted at once. OFF removes the lock.",
        ),
    ),
}

ChanServ.COMMANDS = COMMANDS
ChanServ.SET_COMMANDS = SET_COMMANDS
