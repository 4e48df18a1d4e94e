"""The operators' network service: K/D-lines everywhere, KILL, SAJOIN/SAPART/SANICK.

Every server has the entity `psyc://SERVER/$operators` (`OperatorService`).  It takes
packets only from the root `psyc://HOST/` of another server of the network
(links are authenticated; anything else is dropped), and sends its own from
this server's root to the `$operators` of the others.  Privileges are checked
on the operator's server; the others trust it.

Server bans (ircpsyc.ircd.xlines), unicast to every known server:

* `_notice_xline_add` — a K-line or D-line was set: `_type` (K or D), `_mask`,
  `_reason`, `_setter`, `_time_set`, `_time_expire` (0: permanent), `_server`
  (where it was set) and `_stamp` (its version).  Each server stores it,
  disconnects its matching connections and tells its operators (snomask x).
* `_notice_xline_remove` — a ban was lifted: `_type`, `_mask`, `_stamp`,
  `_server`, `_remover`, `_time_expire` (until when the removal is kept).
* `_request_xlines` — sent to every server that becomes reachable (first time,
  back after a split, restarted): answered with
* `_status_xlines` — every ban and every kept removal, as columns `_list_type`,
  `_list_mask`, `_list_reason`, `_list_setter`, `_list_time_set`,
  `_list_time_expire`, `_list_server`, `_list_stamp`, `_list_removed` (1 for a
  removal) and `_list_remover`.

Whatever the order they arrive in, the newer version of each (kind, mask) wins
(`XLines.merge`), so servers converge after a split or a restart, and an
UNKLINE made during a split is not undone.

Messages to the operators of the servers reachable now: `_notice_wallops`
(`_prefix` of the sender, `_text`) and `_notice_globops` (`_nick`, `_text`).

Actions on a person of another server, unicast to that person's server, which
carries them out as if its own operator had (the usual QUIT, NICK, JOIN or
PART, the override announced by the place) and tells its operators:

* `_request_kill` — `_uniform_target`, `_nick_target`, `_nick` and `_prefix`
  of the operator, `_uniform_oper`, `_reason` (snomask k on both servers);
* `_request_sajoin` — `_list_places` (channel names);
* `_request_sapart` — `_list_places`, `_reason`;
* `_request_sanick` — `_nick_new`.

Each request carries a routing `_tag`; the answers carry it back as
`_tag_relay`, with `_uniform_oper` and `_nick_target`.  Success comes back as
`_status_kill`, `_status_sajoin` / `_status_sapart` (`_list_places`: the
channels joined or left) or `_status_sanick` (`_nick_old`, `_nick_new`); only
then the operator's server announces the action (the same server notices as
for a local one, and a NOTICE to the operator when it does not get those).
Failures come back as `_error_unknown_name_user` (401: the person left or
changed nick meanwhile), `_error_place_target_membership` (441, with
`_nick_place`; SAPART goes on with the other channels) or
`_error_unavailable_nick` (433, with `_nick_new`).  A request without an answer
within `[network] request_timeout` (or whose server is lost) gets the operator
a NOTICE saying it was not confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.moderation import (
    enforce_and_tell,
    force_join,
    force_part,
    globops,
    server_of,
    wallops,
)
from ircpsyc.ircd.xlines import (
    DLINE,
    KLINE,
    BanRemoval,
    ServerBan,
    what,
)
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import Network, host_of
from ircpsyc.psyc_backend.packet import Dispatch, Packet, Value, number, seconds
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.uniform import casefold, nick_of, normalize, root

if TYPE_CHECKING:
    from ircpsyc.ircd.core import IRCServer

log = logging.getLogger(__name__)

OPERATORS = "$operators"
MAX_PLACES = 20  # channels in one SAJOIN/SAPART request


def _int(text: str) -> int:
    return number(text, 0)


def _float(text: str) -> float:
    return seconds(text, 0.0)


def _nick_of(setter: str) -> str:
    return setter.split("!", 1)[0] or "?"


@dataclass(slots=True)
class Pending:
    """An action sent to another server, waiting for its answer."""

    command: str  # KILL, SAJOIN, SAPART, SANICK
    oper_uniform: str
    oper_nick: str
    target: str  # the nick of the person acted on
    prefix: str  # its nick!user@host (for the KILL notice)
    reason: str


class OperatorService:
    """This server's `$operators`: sends and carries out operator actions network-wide."""

    def __init__(self, core: IRCServer, network: Network) -> None:
        self.core = core
        self.network = network
        self.me = network.me
        self.uniform = f"psyc://{self.me}/{OPERATORS}"
        self.refused = 0
        # Actions awaiting their answer (the server they went to is the request's home).
        self.requests: Requests[Pending] = Requests(
            "o", core.clock, lambda: core.config.network.request_timeout, self._failed
        )

    # -- sending

    def _send(
        self, server: str, method: str, vars: dict[str, Value], tag: tuple[str, str] = ("", "")
    ) -> None:
        """`tag`: (`_tag` or `_tag_relay`, its value) for the routing, if any."""
        routing = {V.SOURCE: root(self.me), V.TARGET: f"psyc://{server}/{OPERATORS}"}
        if tag[1]:
            routing[tag[0]] = tag[1]
        self.core.router.send(Packet(method, routing, vars))

    def _others(self) -> list[str]:
        """The servers to tell of a change: the ones we ever saw (the others get
        everything by `_request_xlines` when they first appear)."""
        network = self.network
        return [s for s in network.hash_servers if s != self.me and s in network.known]

    def _spread(self, method: str, vars: dict[str, Value]) -> None:
        for server in self._others():
            self._send(server, method, dict(vars))

    # -- servers coming and going (NetworkListener)

    def server_lost(self, name: str, boot: str) -> None:
        # The bans stay: they are everybody's.  Actions sent there get no answer.
        self.requests.server_lost(name)

    def server_reachable(self, name: str, how: str) -> None:
        if name != self.me and self.network.in_network(name):
            self._send(name, V.REQUEST_XLINES, {})

    # -- server bans, from this server's operators

    def ban_added(self, ban: ServerBan) -> None:
        self._spread(V.NOTICE_XLINE_ADD, _ban_vars(ban))

    def ban_removed(self, removal: BanRemoval) -> None:
        self._spread(V.NOTICE_XLINE_REMOVE, _removal_vars(removal))

    # -- WALLOPS and GLOBOPS, to the servers reachable now (news, not worth a queue)

    def wallops(self, prefix: str, text: str) -> None:
        self._tell_reachable(V.NOTICE_WALLOPS, {V.PREFIX: prefix, V.TEXT: text})

    def globops(self, nick: str, text: str) -> None:
        self._tell_reachable(V.NOTICE_GLOBOPS, {V.NICK: nick, V.TEXT: text})

    def _tell_reachable(self, method: str, vars: dict[str, Value]) -> None:
        network = self.network
        for server in self._others():
            if server in network.reachable:
                self._send(server, method, dict(vars))

    # -- actions on persons of other servers, from this server's operators

    def _act(
        self, oper: Person, victim: Person, method: str, vars: dict[str, Value], reason: str = ""
    ) -> None:
        out: dict[str, Value] = {
            V.UNIFORM_TARGET: victim.uniform,
            V.NICK_TARGET: victim.nick,
            V.NICK: oper.nick,
            V.PREFIX: oper.prefix,
            V.UNIFORM_OPER: oper.uniform,
        }
        out.update(vars)
        server = server_of(victim)
        tag = self.requests.tag()
        command = method.removeprefix(V.REQUEST_PREFIX).upper()
        self.requests.add(
            tag,
            server,
            Pending(command, oper.uniform, oper.nick, victim.nick, victim.prefix, reason),
        )
        self._send(server, method, out, (V.TAG, tag))

    def kill(self, oper: Person, victim: Person, reason: str) -> None:
        self._act(oper, victim, V.REQUEST_KILL, {V.REASON: reason}, reason)

    def sajoin(self, oper: Person, victim: Person, channels: list[str]) -> None:
        self._act(oper, victim, V.REQUEST_SAJOIN, {V.LIST_PLACES: channels[:MAX_PLACES]})

    def sapart(self, oper: Person, victim: Person, channels: list[str], reason: str) -> None:
        vars: dict[str, Value] = {V.LIST_PLACES: channels[:MAX_PLACES], V.REASON: reason}
        self._act(oper, victim, V.REQUEST_SAPART, vars)

    def sanick(self, oper: Person, victim: Person, new: str) -> None:
        self._act(oper, victim, V.REQUEST_SANICK, {V.NICK_NEW: new})

    # -- packets in

    def receive(self, packet: Packet) -> None:
        server = self._trusted(packet)
        if not server:
            self.refused += 1
            log.warning("%s: refused %s from %s", OPERATORS, packet.method, packet.source)
            return
        handler = _DISPATCH.lookup(packet.method)
        if handler is not None:
            handler(self, server, packet)

    def _trusted(self, packet: Packet) -> str:
        """The server that sent the packet, if it is another server of the network."""
        source = packet.source
        host = host_of(source)
        if not host or host == self.me or not self.network.in_network(host):
            return ""
        if normalize(source) != normalize(root(host)):
            return ""  # a person or place of that server: never an operator's request
        return host

    def _on_notice_wallops(self, server: str, packet: Packet) -> None:
        wallops(self.core, packet.get(V.PREFIX) or server, packet.get(V.TEXT))

    def _on_notice_globops(self, server: str, packet: Packet) -> None:
        globops(self.core, packet.get(V.NICK) or server, packet.get(V.TEXT))

    # K/D-lines

    def _on_xline_add(self, server: str, packet: Packet) -> None:
        ban = _ban_of(packet.vars, server)
        if ban is not None:
            self._adopt([ban], [], "")

    def _on_xline_remove(self, server: str, packet: Packet) -> None:
        removal = _removal_of(packet.vars, server)
        if removal is not None:
            self._adopt([], [removal], "")

    def _on_request_xlines(self, server: str, packet: Packet) -> None:
        bans, removals = self.core.moderation.xlines.versions()
        self._send(server, V.STATUS_XLINES, _columns(bans, removals))

    def _on_status_xlines(self, server: str, packet: Packet) -> None:
        bans, removals = _from_columns(packet)
        self._adopt(bans, removals, f" (from {server} on resync)")

    def _adopt(self, bans: list[ServerBan], removals: list[BanRemoval], note: str) -> None:
        """Merge versions from the network; apply and announce the ones that won."""
        core = self.core
        added, lifted = core.moderation.xlines.merge(bans, removals)
        snomasks = core.moderation.snomasks
        now = core.clock()
        for ban in added:
            snomasks.send(
                "x",
                f"{_nick_of(ban.setter)} on {ban.origin} added {ban.describe(now)}: "
                f"{ban.reason}{note}",
            )
            enforce_and_tell(core, ban)
        for removal, ban in lifted:
            snomasks.send(
                "x",
                f"{_nick_of(removal.remover)} on {removal.origin} removed the "
                f"{what(ban.kind)} for {ban.mask}{note}",
            )

    # actions on our persons

    def _victim(self, server: str, packet: Packet) -> Person | None:
        """The local person a request is about; else 401 back to the operator."""
        uniform = packet.get(V.UNIFORM_TARGET)
        nick = nick_of(uniform)
        core = self.core
        folded = casefold(nick)
        found = core.clients.get(folded) or core.gateway_users.get(folded)
        if found is not None and normalize(found.uniform) == normalize(uniform):
            return found
        self._answer(server, packet, V.ERROR_UNKNOWN_NAME_USER, {})
        return None

    def _answer(self, server: str, packet: Packet, method: str, vars: dict[str, Value]) -> None:
        out: dict[str, Value] = {
            V.UNIFORM_OPER: packet.get(V.UNIFORM_OPER),
            V.NICK_TARGET: packet.get(V.NICK_TARGET),
        }
        out.update(vars)
        self._send(server, method, out, (V.TAG_RELAY, packet.routing.get(V.TAG, "")))

    def _on_request_kill(self, server: str, packet: Packet) -> None:
        victim = self._victim(server, packet)
        if victim is None:
            return
        oper, reason = packet.get(V.NICK), packet.get(V.REASON)
        moderation = self.core.moderation
        moderation.snomasks.send(
            "k",
            f"Received KILL message for {victim.prefix}. From {oper} Path: "
            f"{server}!{oper} ({reason})",
        )
        if not moderation.kill(victim, packet.get(V.PREFIX), reason, f"Killed ({oper} ({reason}))"):
            self._answer(server, packet, V.ERROR_UNKNOWN_NAME_USER, {})
        else:
            self._answer(server, packet, V.STATUS_KILL, {V.PREFIX_TARGET: victim.prefix})

    def _on_request_sajoin(self, server: str, packet: Packet) -> None:
        victim = self._victim(server, packet)
        if victim is None:
            return
        joined: list[str] = []
        for name in packet.get_list(V.LIST_PLACES)[:MAX_PLACES]:
            if force_join(self.core, victim, name):
                joined.append(name)
                self._tell(server, packet, f"SAJOIN {victim.nick} {name}")
        self._answer(server, packet, V.STATUS_SAJOIN, {V.LIST_PLACES: joined})

    def _on_request_sapart(self, server: str, packet: Packet) -> None:
        victim = self._victim(server, packet)
        if victim is None:
            return
        reason = packet.get(V.REASON)
        parted: list[str] = []
        for name in packet.get_list(V.LIST_PLACES)[:MAX_PLACES]:
            view = force_part(victim, name, reason)
            if view is None:
                vars: dict[str, Value] = {V.NICK_PLACE: name}
                self._answer(server, packet, V.ERROR_PLACE_TARGET_MEMBERSHIP, vars)
            else:
                parted.append(view.name)
                self._tell(server, packet, f"SAPART {victim.nick} {view.name}")
        self._answer(server, packet, V.STATUS_SAPART, {V.LIST_PLACES: parted})

    def _on_request_sanick(self, server: str, packet: Packet) -> None:
        victim = self._victim(server, packet)
        if victim is None:
            return
        new = packet.get(V.NICK_NEW)
        old = victim.nick
        if not victim.sessions or self.core.nick_taken(new, victim.sessions[0]):
            self._answer(server, packet, V.ERROR_UNAVAILABLE_NICK, {V.NICK_NEW: new})
            return
        if new != old:
            victim.rename(new)
            self._tell(server, packet, f"SANICK {old} {new}")
        self._answer(server, packet, V.STATUS_SANICK, {V.NICK_OLD: old, V.NICK_NEW: new})

    def _tell(self, server: str, packet: Packet, action: str) -> None:
        self.core.moderation.snomasks.send("v", f"{packet.get(V.NICK)} on {server} used {action}")

    # answers for our operators

    def _oper(self, packet: Packet) -> Client | None:
        return self._oper_of(packet.get(V.UNIFORM_OPER))

    def _oper_of(self, uniform: str) -> Client | None:
        found = self.core.clients.get(casefold(nick_of(uniform)))
        if found is None or normalize(found.uniform) != normalize(uniform):
            return None
        return found

    def _done(self, packet: Packet, final: bool = True) -> Pending | None:
        """The pending action an answer from its server is for (forgotten when `final`)."""
        request = self.requests.get(packet)
        if request is None:
            return None
        if final:
            self.requests.answered_by(request)
        return request.data

    def _confirm(self, pending: Pending, letter: str, text: str) -> None:
        """Announce a confirmed action as a local one is (snomask `letter`), and tell
        the operator with a NOTICE when it does not get that snomask."""
        snomasks = self.core.moderation.snomasks
        snomasks.send(letter, text)
        oper = self._oper_of(pending.oper_uniform)
        if oper is not None and not (oper.is_oper and letter in snomasks.masks.get(oper, "")):
            oper.send(line(self.core.name, "NOTICE", oper.nick, f"*** {text}"))

    def _unconfirmed(self, pending: Pending, why: str) -> None:
        oper = self._oper_of(pending.oper_uniform)
        if oper is None:
            return
        text = (
            f"*** {pending.command} {pending.target}: not confirmed ({why}); "
            "it may not have been carried out"
        )
        oper.send(line(self.core.name, "NOTICE", oper.nick, text))

    def tick(self, now: float) -> None:
        """Actions without an answer past their deadline: tell their operators."""
        self.requests.expire()

    def _failed(self, request: Request[Pending], why: Failure) -> None:
        if why == "lost":
            self._unconfirmed(request.data, f"{request.home} split from the network")
            return
        timeout = float(self.core.config.network.request_timeout)
        self._unconfirmed(request.data, f"no answer from {request.home} within {timeout:g}s")

    def _on_status_kill(self, server: str, packet: Packet) -> None:
        pending = self._done(packet)
        if pending is None:
            return
        prefix = packet.get(V.PREFIX_TARGET) or pending.prefix
        self._confirm(
            pending,
            "k",
            f"Received KILL message for {prefix}. From {pending.oper_nick} Path: "
            f"{self.me}!{pending.oper_nick} ({pending.reason})",
        )

    def _on_status_sajoin(self, server: str, packet: Packet) -> None:
        pending = self._done(packet)
        if pending is None:
            return
        for name in packet.get_list(V.LIST_PLACES):
            self._confirm(pending, "v", f"{pending.oper_nick} used SAJOIN {pending.target} {name}")

    def _on_status_sapart(self, server: str, packet: Packet) -> None:
        pending = self._done(packet)
        if pending is None:
            return
        for name in packet.get_list(V.LIST_PLACES):
            self._confirm(pending, "v", f"{pending.oper_nick} used SAPART {pending.target} {name}")

    def _on_status_sanick(self, server: str, packet: Packet) -> None:
        pending = self._done(packet)
        if pending is None:
            return
        old, new = packet.get(V.NICK_OLD) or pending.target, packet.get(V.NICK_NEW)
        if new and new != old:
            self._confirm(pending, "v", f"{pending.oper_nick} used SANICK {old} {new}")

    def _on_error_unknown_name_user(self, server: str, packet: Packet) -> None:
        self._done(packet)
        oper = self._oper(packet)
        if oper is not None:
            nick = packet.get(V.NICK_TARGET)
            for session in oper.sessions:
                session.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")

    def _on_error_place_target_membership(self, server: str, packet: Packet) -> None:
        self._done(packet, final=False)  # SAPART goes on: its status follows
        oper = self._oper(packet)
        if oper is not None:
            nick, channel = packet.get(V.NICK_TARGET), packet.get(V.NICK_PLACE)
            for session in oper.sessions:
                session.numeric(
                    N.ERR_USERNOTINCHANNEL, nick, channel, "They aren't on that channel"
                )

    def _on_error_unavailable_nick(self, server: str, packet: Packet) -> None:
        self._done(packet)
        oper = self._oper(packet)
        if oper is not None:
            new = packet.get(V.NICK_NEW)
            for session in oper.sessions:
                session.numeric(N.ERR_NICKNAMEINUSE, new, "Nickname is already in use")

    def _on_error(self, server: str, packet: Packet) -> None:
        log.info("%s from %s: %s", OPERATORS, server, packet.method)


_DISPATCH = Dispatch(
    {
        V.NOTICE_WALLOPS: OperatorService._on_notice_wallops,
        V.NOTICE_GLOBOPS: OperatorService._on_notice_globops,
        V.NOTICE_XLINE_ADD: OperatorService._on_xline_add,
        V.NOTICE_XLINE_REMOVE: OperatorService._on_xline_remove,
        V.REQUEST_XLINES: OperatorService._on_request_xlines,
        V.STATUS_XLINES: OperatorService._on_status_xlines,
        V.REQUEST_KILL: OperatorService._on_request_kill,
        V.REQUEST_SAJOIN: OperatorService._on_request_sajoin,
        V.REQUEST_SAPART: OperatorService._on_request_sapart,
        V.REQUEST_SANICK: OperatorService._on_request_sanick,
        V.STATUS_KILL: OperatorService._on_status_kill,
        V.STATUS_SAJOIN: OperatorService._on_status_sajoin,
        V.STATUS_SAPART: OperatorService._on_status_sapart,
        V.STATUS_SANICK: OperatorService._on_status_sanick,
        V.ERROR_UNKNOWN_NAME_USER: OperatorService._on_error_unknown_name_user,
        V.ERROR_PLACE_TARGET_MEMBERSHIP: OperatorService._on_error_place_target_membership,
        V.ERROR_UNAVAILABLE_NICK: OperatorService._on_error_unavailable_nick,
        V.ERROR: OperatorService._on_error,
    }
)


# -- bans on the wire


def _ban_vars(ban: ServerBan) -> dict[str, Value]:
    return {
        V.TYPE: ban.kind,
        V.MASK: ban.mask,
        V.REASON: ban.reason,
        V.SETTER: ban.setter,
        V.TIME_SET: repr(ban.set_at),
        V.TIME_EXPIRE: repr(ban.expires),
        V.SERVER: ban.origin,
        V.STAMP: str(ban.stamp),
    }


def _removal_vars(removal: BanRemoval) -> dict[str, Value]:
    return {
        V.TYPE: removal.kind,
        V.MASK: removal.mask,
        V.REMOVER: removal.remover,
        V.TIME_EXPIRE: repr(removal.until),
        V.SERVER: removal.origin,
        V.STAMP: str(removal.stamp),
    }


def _str(vars: dict[str, Value], name: str) -> str:
    value = vars.get(name, "")
    return value if isinstance(value, str) else " ".join(value)


def _valid(kind: str, mask: str, stamp: int) -> bool:
    return kind in (KLINE, DLINE) and bool(mask) and stamp > 0


def _ban_of(vars: dict[str, Value], server: str) -> ServerBan | None:
    kind, mask, stamp = _str(vars, V.TYPE), _str(vars, V.MASK), _int(_str(vars, V.STAMP))
    if not _valid(kind, mask, stamp):
        return None
    return ServerBan(
        kind,
        mask,
        _str(vars, V.REASON),
        _str(vars, V.SETTER),
        _float(_str(vars, V.TIME_SET)),
        _float(_str(vars, V.TIME_EXPIRE)),
        (_str(vars, V.SERVER) or server).lower(),
        stamp,
    )


def _removal_of(vars: dict[str, Value], server: str) -> BanRemoval | None:
    kind, mask, stamp = _str(vars, V.TYPE), _str(vars, V.MASK), _int(_str(vars, V.STAMP))
    if not _valid(kind, mask, stamp):
        return None
    return BanRemoval(
        kind,
        mask,
        stamp,
        (_str(vars, V.SERVER) or server).lower(),
        _str(vars, V.REMOVER),
        _float(_str(vars, V.TIME_EXPIRE)),
    )


_COLUMNS = (
    (V.TYPE, V.LIST_TYPE),
    (V.MASK, V.LIST_MASK),
    (V.REASON, V.LIST_REASON),
    (V.SETTER, V.LIST_SETTER),
    (V.TIME_SET, V.LIST_TIME_SET),
    (V.TIME_EXPIRE, V.LIST_TIME_EXPIRE),
    (V.SERVER, V.LIST_SERVER),
    (V.STAMP, V.LIST_STAMP),
    (V.REMOVER, V.LIST_REMOVER),
)


def _columns(bans: Iterable[ServerBan], removals: Iterable[BanRemoval]) -> dict[str, Value]:
    rows: list[dict[str, Value]] = [_ban_vars(b) for b in bans]
    flags = ["0"] * len(rows)
    for removal in removals:
        rows.append(_removal_vars(removal))
        flags.append("1")
    out: dict[str, Value] = {column: [_str(row, name) for row in rows] for name, column in _COLUMNS}
    out[V.LIST_REMOVED] = flags
    return out


def _from_columns(packet: Packet) -> tuple[list[ServerBan], list[BanRemoval]]:
    columns = {name: packet.get_list(column) for name, column in _COLUMNS}
    flags = packet.get_list(V.LIST_REMOVED)
    server = host_of(packet.source)
    bans: list[ServerBan] = []
    removals: list[BanRemoval] = []
    for index, flag in enumerate(flags):
        row: dict[str, Value] = {
            name: values[index] if index < len(values) else "" for name, values in columns.items()
        }
        if flag == "1":
            removal = _removal_of(row, server)
            if removal is not None:
                removals.append(removal)
        else:
            ban = _ban_of(row, server)
            if ban is not None:
                bans.append(ban)
    return bans, removals
