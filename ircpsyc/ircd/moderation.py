"""Operator control at the IRC front-end: privileges, server notices, bans at the door.

- `Moderation` (one per `IRCServer`, `core.moderation`) holds the server notice
  masks and the K/D-lines, refuses banned connections, sends the connect and
  quit notices (and, snomask F, those of other servers that the roster
  reports, with one summary per netsplit or netjoin), and runs the places'
  timers (flood quiets) once a second.
- Privileges come from the operator's class (`[[oper_classes]]`); an operator
  without a class has all of them.  `require_privilege` answers 723
  ERR_NOPRIVS.  The `override` privilege does not decide anything here: the
  front-end only vouches for it (`_flag_override`) and the place decides
  whether its rules are overridden, and announces it.
- Commands (ircpsyc.ircd.commands.moderation): KNOCK, GLOBOPS, SAJOIN, SAPART,
  SANICK.  SAJOIN, SAPART and SANICK (and KILL, in oper.py) of a person on
  another server of the network go to that server (ircpsyc.ircd.operator_service),
  which carries them out and confirms; the server notices here come with the
  confirmation.
- `Moderation.kill` disconnects a local person: its IRC sessions, or through
  the `disconnectors` of front-ends whose persons have none (the XMPP gateway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ircpsyc.config import OPER_PRIVILEGES, OperClassEntry, OperEntry
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import PersonObserver
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.names import valid_channel
from ircpsyc.ircd.oper_attempts import OperAttempts
from ircpsyc.ircd.session import Session
from ircpsyc.ircd.snomask import Snomasks
from ircpsyc.ircd.xlines import DLINE, KLINE, XLines, format_duration
from ircpsyc.persons.person import Person
from ircpsyc.persons.roster import RemotePerson
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Value
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceView
    from ircpsyc.ircd.client import Client
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.ircd.moderation_port import OperatorsPort
    from ircpsyc.ircd.xlines import ServerBan
    from ircpsyc.store import Store

ALL_PRIVILEGES = frozenset(OPER_PRIVILEGES)

# Disconnects a person that has no IRC sessions (an XMPP user) with a QUIT reason;
# False when it is not one of the front-end's.


class Moderation(PersonObserver):
    """Operator state of one server: snomasks, server bans, timers."""

    # The operators' network service (network-wide K/D-lines and actions), set by
    # ircpsyc.linking: a server without links is a network of one.
    netops: OperatorsPort

    def __init__(self, core: IRCServer) -> None:
        self.core = core
        self.snomasks = Snomasks(core)
        self.xlines = XLines(core)
        self.oper_attempts = OperAttempts()
        self.disconnectors = core.persons.disconnectors  # front-ends without sessions

    def attach_store(self, store: Store) -> None:
        self.xlines.attach(store)

    def tick(self, now: float) -> None:
        self.core.places.tick()
        for ban in self.xlines.expire():
            what = "K-line" if ban.kind == "K" else "D-line"
            self.snomasks.send("x", f"{what} for {ban.mask} expired (set by {ban.setter})")

    # -- at the door

    def refusal(self, session: Session) -> str:
        """Why a registering connection is refused (a K- or D-line), or ""."""
        cloak = self.core.cloaks.cloak_of(session.ip)  # the person is not made yet
        ban = self.xlines.match(session.user, session.host, session.ip, cloak)
        if ban is None:
            return ""
        what = "K-Lined" if ban.kind == "K" else "D-Lined"
        session.numeric(N.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}")
        return f"{what}: {ban.reason}"

    def connect_refusal(self, ip: str) -> str:
        """D-lines refuse a connection before it says anything."""
        ban = self.xlines.match("", ip, ip)
        return f"D-Lined: {ban.reason}" if ban is not None else ""

    # -- KILL

    def kill(self, victim: Person, killer: str, reason: str, text: str) -> bool:
        """Disconnect a local person: KILL from `killer` (a prefix), then QUIT `text`."""
        if victim.sessions:
            victim.directory.let_go(victim)  # not kept online (always-on) either
            for session in list(victim.sessions):
                session.send(line(killer, "KILL", victim.nick, reason))
                session.close(text)
            return True
        return any(disconnect(victim, text) for disconnect in list(self.disconnectors))

    # -- person events

    def person_online(self, client: Client) -> None:
        if self.snomasks.masks and client.sessions:  # (a restored person has none)
            session = client.session
            self.snomasks.send(
                "c",
                f"Client connecting: {client.nick} ({client.user}@{client.host}) "
                f"[{client.ip}] {'(TLS) ' if session.tls else ''}[{client.realname}]",
            )

    def person_offline(self, client: Client) -> None:
        self.snomasks.forget(client)

    def session_gone(self, session: Session, reason: str) -> None:
        """A connection ended; a quit notice when it was a client's last one."""
        client = session.client
        if client is None or client.sessions != (session,) or not self.snomasks.masks:
            return
        self.snomasks.send(
            "q",
            f"Client exiting: {client.nick} ({client.user}@{client.host}) [{client.ip}] [{reason}]",
        )

    # -- persons of other servers (snomask F), as the roster learns of them

    def far_connect(self, found: RemotePerson) -> None:
        if self.snomasks.masks:
            self.snomasks.send(
                "F",
                f"Client connecting at {found.server}: {found.nick} ({found.user}@{found.host}) "
                f"[{found.ip}] [{found.realname}]",
            )

    def far_exit(self, found: RemotePerson, reason: str) -> None:
        if self.snomasks.masks:
            self.snomasks.send(
                "F",
                f"Client exiting at {found.server}: {found.nick} ({found.user}@{found.host}) "
                f"[{found.ip}] [{reason}]",
            )

    def netsplit(self, server: str, users: int) -> None:
        if self.snomasks.masks:
            self.snomasks.send("F", f"Netsplit: {server} lost, {users} users")

    def netjoin(self, server: str, users: int) -> None:
        if self.snomasks.masks:
            self.snomasks.send("F", f"Netjoin: {server} joined, {users} users")


# -- privileges


def oper_entry(core: IRCServer, client: Client) -> OperEntry | None:
    if not client.is_oper or not client.oper_name:
        return None
    return next((o for o in core.config.opers if o.name == client.oper_name), None)


def oper_class(core: IRCServer, entry: OperEntry) -> OperClassEntry | None:
    folded = entry.oper_class.casefold()
    return next((c for c in core.config.oper_classes if c.name.casefold() == folded), None)


def privileges(core: IRCServer, client: Client) -> frozenset[str]:
    """What an operator may do, from the configuration in force (REHASH applies at once)."""
    entry = oper_entry(core, client)
    if entry is None:
        return frozenset()
    if not entry.oper_class:
        return ALL_PRIVILEGES
    found = oper_class(core, entry)
    return frozenset(found.privileges) if found is not None else frozenset()


def has_privilege(core: IRCServer, client: Client | None, privilege: str) -> bool:
    return client is not None and privilege in privileges(core, client)


def require_privilege(s: Session, privilege: str) -> bool:
    """True if the session's operator has `privilege`; else 723 ERR_NOPRIVS."""
    if has_privilege(s.core, s.client, privilege):
        return True
    s.numeric(N.ERR_NOPRIVS, privilege, "Insufficient oper privileges.")
    return False


def override_vars(s: Session) -> dict[str, Value]:
    """`_flag_override` for requests of an operator with the override privilege."""
    return {V.FLAG_OVERRIDE: "1"} if has_privilege(s.core, s.client, "override") else {}


def globops(core: IRCServer, nick: str, text: str) -> None:
    """A GLOBOPS to the operators of this server."""
    notice = f"*** GLOBOPS from {nick}: {text}"
    for other in list(core.clients.values()):
        if other.is_oper:
            other.send(line(core.name, "NOTICE", other.nick, notice))


def wallops(core: IRCServer, prefix: str, text: str) -> None:
    """A WALLOPS to the users of this server who get them (+w, and operators)."""
    data = line(prefix, "WALLOPS", text)
    for other in list(core.clients.values()):
        if "w" in other.modes or other.is_oper:
            other.send(data)


# -- forcing persons (SAJOIN, SAPART, SANICK; ircpsyc.ircd.operator_service)


def server_of(client: Person) -> str:
    """The server of a person on another server ("" for a person of this one)."""
    return client.server if isinstance(client, RemotePerson) else ""


def remote_ops(s: Session, victim: Person) -> OperatorsPort | None:
    """Where to send an action on `victim` when it is on another server of the network."""
    server = server_of(victim)
    netops = s.core.moderation.netops
    if not server or not netops.network.in_network(server):
        return None
    return netops


def force_join(core: IRCServer, victim: Person, channel: str) -> bool:
    """Make a local person join, past the channel's rules; False if already there."""
    if casefold(channel) in victim.channels or not valid_channel(
        channel, core.config.limits.channellen
    ):
        return False
    vars = victim.enter_vars()
    vars[V.NICK_PLACE] = channel
    vars[V.FLAG_OVERRIDE] = "1"
    uniform = core.net.place_uniform(channel)
    victim.request(V.REQUEST_ENTER, uniform, vars)
    return True


def force_part(victim: Person, channel: str, reason: str) -> PlaceView | None:
    """Make a local person leave a channel; the channel, or None if not in it."""
    view = victim.channels.get(casefold(channel))
    if view is not None:
        victim.request(V.REQUEST_LEAVE, view.uniform, {V.REASON: reason[:300]})
    return view


# SAJOIN <nick> <channel>{,<channel>}


# -- what every server does with a new ban, and STATS k/d


def enforce_and_tell(core: IRCServer, ban: ServerBan) -> None:
    """Disconnect the local connections a new ban matches; a notice if there were any."""
    gone = core.moderation.xlines.enforce(ban)
    if gone:
        core.moderation.snomasks.send(
            "x", f"{ban.mask} disconnected {len(gone)} client(s): {', '.join(gone[:20])}"
        )


def send_stats(s: Session, query: str) -> bool:
    """STATS k/K (K-lines) and d/D (D-lines), for operators; False for other queries."""
    if query not in "kKdD":
        return False
    client = s.client
    if client is None or not client.is_oper:
        s.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return True
    kind = KLINE if query in "kK" else DLINE
    now = s.core.clock()
    for ban in sorted(s.core.moderation.xlines.bans.values(), key=lambda b: b.set_at):
        if ban.kind != kind or (ban.expires and ban.expires <= now):
            continue
        left = f" (expires in {format_duration(ban.expires - now)})" if ban.expires else ""
        where = f" on {ban.origin}" if ban.origin and ban.origin != s.core.name.lower() else ""
        text = f"{ban.reason}{left} [set by {ban.setter.split('!')[0]}{where}]"
        if kind == KLINE:
            user, _, host = ban.mask.partition("@")
            s.numeric(N.RPL_STATSKLINE, "K", host, "*", user, text)
        else:
            s.numeric(N.RPL_STATSDLINE, "D", ban.mask, text)
    return True
