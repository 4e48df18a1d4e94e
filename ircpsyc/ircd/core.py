"""The IRC front-end's shared state: the command table, dispatch, registration, welcome.

Who is online is the local directory of persons (`IRCServer.persons`,
`ircpsyc.persons.directory`); `IRCServer` keeps the names the handlers use for
its tables and lookups (`clients`, `monitors`, `find`, `nick_taken`, ...).

`IRCServer` is sans-IO like `Session`: the asyncio adapter in `protocol.py`
feeds it connections and lines; places and persons talk through the router.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ircpsyc import __version__
from ircpsyc.channels import modes as M
from ircpsyc.channels.extbans import ACCOUNT as ACCOUNT_EXTBAN
from ircpsyc.channels.extbans import ISUPPORT_EXTBAN
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.ircd import caps as C
from ircpsyc.ircd import metadata as meta
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client, notify_watchers
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.place_answers import PlaceAnswers
from ircpsyc.ircd.read_markers import send_marker
from ircpsyc.ircd.replies import send_lusers, send_motd, send_names, send_topic
from ircpsyc.passwords import verify_password
from ircpsyc.persons import person as persons_person
from ircpsyc.persons.directory import PersonDirectory
from ircpsyc.persons.person import EMPTY, Person
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import casefold, casemapping
from ircpsyc.services.hash_queue import Work

if TYPE_CHECKING:
    from irctokens.line import Line

    from ircpsyc.config import Config
    from ircpsyc.ircd.cloak import Cloaks
    from ircpsyc.ircd.durable import DurableEcho
    from ircpsyc.ircd.hostnames import HostLookups
    from ircpsyc.ircd.moderation_port import ModerationPort
    from ircpsyc.ircd.net_port import NetPort
    from ircpsyc.ircd.session import Session
    from ircpsyc.psyc_backend.packet import Packet
    from ircpsyc.services.accounts import Accounts
    from ircpsyc.services.awaylog import AwayLog
    from ircpsyc.services.history import History
    from ircpsyc.services.marks import LastSeen, ReadMarkers
    from ircpsyc.services.nickserv import NickServ

log = logging.getLogger(__name__)

Handler = Callable[["Session", "Line"], None]


@dataclass(frozen=True, slots=True)
class Command:
    """A command's dispatch rules; the dispatcher answers 451/461/481 for all of them."""

    handler: Handler
    min_params: int = 0
    pre_registration: bool = False
    oper: bool = False


COMMANDS: dict[str, Command] = {}
MONITOR_LIMIT = 100


def command(
    *names: str, min_params: int = 0, pre_registration: bool = False, oper: bool = False
) -> Callable[[Handler], Handler]:
    """Register a handler in the command table under `names` (a command and its aliases)."""

    def register(handler: Handler) -> Handler:
        entry = Command(handler, min_params, pre_registration, oper)
        for name in names:
            COMMANDS[name] = entry
        return handler

    return register


# What services and features hear about the persons of IRC sessions
# (ircpsyc.persons.person.PersonObserver, told by the local directory).
PersonObserver = persons_person.PersonObserver[Client, "Session"]
# A person observer's `private_message`: (session, sender, target or None, packet);
# the target is any person (a service's, another server's), as for the observers.
PrivateHook = Callable[["Session", Client, "Person | None", "Packet"], None]


class Offload(Protocol):
    """Runs slow password work (`kind`) for `sessions` and calls `done(result)`; False
    when the work was refused (the sessions' address has too much queued), and then
    `done` is never called.  The address is that of the first session."""

    def __call__(
        self,
        sessions: Sequence[Session],
        job: Callable[[], Any],
        done: Callable[[Any], None],
        kind: Work = Work.HASH,
    ) -> bool: ...


def inline_offload(
    sessions: Sequence[Session],
    job: Callable[[], Any],
    done: Callable[[Any], None],
    kind: Work = Work.HASH,
) -> bool:
    """Run slow work at once: the sans-IO default (the server runs it in a thread)."""
    done(job())
    return True


def _ignore_service(client: Client, packet: Packet) -> None:
    """No accounts on this server: nothing asks anything of persons."""


class IRCServer:
    """Front-end state shared by all sessions of one server."""

    def __init__(
        self,
        config: Config,
        router: Router,
        places: PlaceRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.router = router
        self.places = places
        self.clock = clock
        self.name = config.server.name
        self.created = clock()
        # Who is online here (ircpsyc.persons): its tables, by their old names too.
        self.persons: PersonDirectory[Client, Session] = PersonDirectory(
            self.name, router, places, clock
        )
        self.clients = self.persons.clients  # casefolded nick -> registered person
        self.reserved = self.persons.reserved  # nicks taken by unregistered sessions
        # Every connection, registered or not; a dict for its keys (insertion order, and
        # smaller than a set at 10,000 entries).
        self.sessions: dict[Session, None] = {}
        self.attaching: set[Session] = set()  # sessions inside `attach` (its away change)
        self.whowas = self.persons.whowas
        self.monitors = self.persons.monitors  # casefolded nick -> watchers
        # A plain dict: a Counter's `+= 1` costs twice as much (every command counts).
        self.command_counts: dict[str, int] = {}
        self.mode_counts = self.persons.mode_counts  # local clients with +i / +o
        self.registered_sessions = 0
        self.max_local = 0
        self._batch_ids = itertools.count(1)
        self.on_rehash: Callable[[], str | None] | None = None
        # The server's admission counts a session as registering until this is called.
        self.on_registered: Callable[[Session], None] | None = None
        self.on_stats: Callable[[str], list[tuple[str, list[str]]]] | None = None
        # Services (installed by ircpsyc.assemble.install_accounts when there is a store).
        self.accounts: Accounts | None = None
        self.nickserv: NickServ | None = None
        self.service_users = self.persons.service_users  # casefolded nick -> pseudo-user
        # Nicks of the XMPP gateway's users (ircpsyc.xmpp): found like local persons, never taken.
        self.gateway_users = self.persons.gateway_users
        self.person_observers = self.persons.observers
        # The observers that act on a private message (`private_hooks`), and how many
        # observers there were when that list was made (observers are only appended).
        self._private_hooks: list[PrivateHook] = []
        self._private_hooks_of = -1
        # What NickServ asks of a local person (login, logout, renames): the accounts
        # front-end, when there are accounts (ircpsyc.ircd.service_users).
        self.service_requests: Callable[[Client, Packet], None] = _ignore_service
        self.tickers: list[Callable[[float], None]] = []
        # Requests to channels homed elsewhere whose command waits for the answer
        # (the network tells it of lost servers: ircpsyc.linking).
        self.place_answers = PlaceAnswers(self.clock, lambda: self.config.network.request_timeout)
        self.tickers.append(self.place_answers.requests.tick)
        self.extra_caps: dict[str, Callable[[], str]] = {}  # cap -> its CAP LS value
        # Slow work (password hashing) for `sessions`; the server holds their input meanwhile.
        self.offload: Offload = inline_offload
        # Echoes of channel lines wait for their history commit (the server installs it).
        self.durable: DurableEcho | None = None
        # IRCv3 metadata of accounts, in the store once the server attaches one.
        self.account_metadata = meta.AccountMetadata()
        self.apply_config(config)

    # Built by the composition root (ircpsyc.assemble.front_end) right after this.
    history: History  # in memory until the server attaches its store
    # The network (ircpsyc.linking), of one server when none is linked: persons
    # and channels on other servers, and the network's services.
    net: NetPort
    awaylog: AwayLog
    readmarkers: ReadMarkers  # draft/read-marker, per account and target
    lastseen: LastSeen  # what each device of an account saw last (ircpsyc.ircd.replay)
    moderation: ModerationPort[Session]  # oper privileges, snomasks, K/D-lines
    cloaks: Cloaks  # host cloaking, user mode +x
    hostnames: HostLookups[Session]  # reverse DNS ([limits] resolve_hostnames)

    def apply_config(self, config: Config) -> None:
        had_sts = bool(getattr(self, "config", None)) and _sts_on(self.config)
        self.config = config
        self.places.configure(config)
        self.config_utf8_only = config.server.utf8_only
        motd = config.server.motd
        self.motd_lines = motd.splitlines() if motd else []
        self.isupport = self._isupport()
        if had_sts != _sts_on(config) and hasattr(self, "sessions"):
            self.caps_changed(*(([C.STS], []) if not had_sts else ([], [C.STS])))

    def caps_changed(self, new: list[str], deleted: list[str]) -> None:
        """cap-notify: tell negotiating clients what appeared (CAP NEW) or went (CAP DEL)."""
        for session in list(self.sessions):
            if C.CAP_NOTIFY not in session.caps:
                continue
            target = session.nick or "*"
            if new:
                tokens = []
                for name in new:
                    value = sts_value(session) if name == C.STS else cap_value(self, name)
                    tokens.append(f"{name}={value}" if value else name)
                session.reply("CAP", target, "NEW", " ".join(tokens))
            if deleted:
                session.set_caps(session.caps - set(deleted))
                session.reply("CAP", target, "DEL", " ".join(deleted))

    # -- helpers

    def new_batch_id(self) -> str:
        return f"b{next(self._batch_ids):x}"

    def find(self, nick: str) -> Person | None:
        return self.persons.find(nick)

    def private_hooks(self) -> list[PrivateHook]:
        """The `private_message` of each person observer that has one (history, the
        away log): every private line calls them, and not the ten that do nothing."""
        observers = self.person_observers
        if len(observers) != self._private_hooks_of:
            base = persons_person.PersonObserver.private_message
            self._private_hooks = [
                o.private_message for o in observers if type(o).private_message is not base
            ]
            self._private_hooks_of = len(observers)
        return self._private_hooks

    def nick_taken(self, nick: str, by: Session) -> bool:
        return self.persons.nick_taken(nick, by)

    def _isupport(self) -> list[str]:
        limits = self.config.limits
        targmax = limits.max_targets
        tokens = [
            f"AWAYLEN={limits.awaylen}",
            f"CASEMAPPING={casemapping()}",
            f"CHANLIMIT=#:{limits.max_channels}",
            f"CHANMODES={M.CHANMODES}",
            f"CHANNELLEN={limits.channellen}",
            "CHANTYPES=#",
            "ELIST=CMNTU",
            "EXCEPTS=e",
            f"EXTBAN={ISUPPORT_EXTBAN}",
            f"ACCOUNTEXTBAN={ACCOUNT_EXTBAN}",
            "KNOCK",
            "INVEX=I",
            f"KICKLEN={limits.kicklen}",
            f"MAXLIST=beI:{limits.max_bans}",
            f"MAXTARGETS={targmax}",
            "MODES=4",
            f"NETWORK={self.config.server.network}",
            f"NICKLEN={limits.nicklen}",
            f"PREFIX={M.PREFIX}",
            "SAFELIST",
            f"STATUSMSG={M.STATUSMSG}",
            f"TARGMAX=PRIVMSG:{targmax},NOTICE:{targmax},TAGMSG:{targmax},JOIN:,PART:,"
            f"KICK:{targmax},NAMES:,WHOIS:1,ISON:,USERHOST:5,MONITOR:",
            f"TOPICLEN={limits.topiclen}",
            "USERLEN=10",
            "WHOX",
            "BOT=B",
            "MONITOR=100",
        ]
        if self.config_utf8_only:
            tokens.append("UTF8ONLY")
        if self.config.server.icon:
            tokens.append(f"draft/ICON={self.config.server.icon}")
        if self.config.services.require_account:
            tokens.append("ACCOUNTREQUIRED")
        if self.config.history.enabled:
            tokens.append(f"CHATHISTORY={self.config.history.chathistory_limit}")
            tokens.append("MSGREFTYPES=msgid,timestamp")
        return sorted(tokens)

    # -- dispatch

    def dispatch(self, session: Session, name: str, msg: Line, now: float) -> None:
        cmd = COMMANDS.get(name)
        if cmd is None:
            if session.registered:
                session.numeric(N.ERR_UNKNOWNCOMMAND, name, "Unknown command")
            else:
                session.numeric(N.ERR_NOTREGISTERED, "You have not registered")
            return
        if not session.registered and not cmd.pre_registration:
            session.numeric(N.ERR_NOTREGISTERED, "You have not registered")
            return
        if len(msg.params) < cmd.min_params:
            session.numeric(N.ERR_NEEDMOREPARAMS, name, "Not enough parameters")
            return
        if cmd.oper and (session.client is None or not session.client.is_oper):
            session.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
            return
        counts = self.command_counts
        counts[name] = counts.get(name, 0) + 1
        if session.client is not None:
            session.client.touch(name, self.clock())
        try:
            cmd.handler(session, msg)
        except Exception:  # a bug in one handler must never take the server down
            log.exception("error handling %s from %s", name, session.nick or session.ip)
            session.send(line(self.name, "FAIL", name, "INTERNAL_ERROR", "Internal error"))

    # -- registration

    def try_register(self, session: Session) -> None:
        if session.registered or session.cap_negotiating or not session.user:
            return
        if not session.nick and not (session.account and session.nick_refused):
            return
        if self.hostnames.waiting(session):
            return  # registration goes on when the host name lookup is over
        person = self.account_person(session)
        if person is None:
            refusal = self.elsewhere(session)
            if refusal:
                session.fail("*", "ACCOUNT_ELSEWHERE", refusal)
                session.close(refusal)
                return
            if not session.nick:
                return  # its nick was refused: it asks for another
            if self.nick_taken(session.nick, session):
                session.numeric(N.ERR_NICKNAMEINUSE, session.nick, "Nickname is already in use")
                return
        if session.sasl is not None:
            session.sasl.registering(session)  # an unfinished exchange is aborted (906)
        password_hash = self.config.server.password_hash
        if password_hash and not verify_password(password_hash, session.password):
            session.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
            session.close("Bad password")
            return
        refusal = self.moderation.refusal(session)  # K-lines and D-lines
        if refusal:
            session.close(refusal)
            return
        if person is not None:
            self.attach(session, person)
            return
        if len(self.clients) >= self.config.limits.max_clients:
            session.close("Too many clients on this server")
            return
        if self.config.services.require_account and not session.account:
            session.fail("*", "ACCOUNT_REQUIRED", "Log in to an account (SASL) to connect")
            session.close("An account is required")
            return
        self.reserved.pop(casefold(session.nick), None)
        client = Client(self, session, self.clock())
        client.away = client.aggregate_away()  # draft/pre-away
        client.metadata = session.pre_metadata  # METADATA * SET before registration
        session.pre_metadata = EMPTY
        if client.account:
            meta.logged_in(client, self.account_metadata)
        session.client = client
        self._registered(session)
        self.persons.add(client)
        self.max_local = max(self.max_local, len(self.clients))
        self.welcome(session)
        self.persons.tell_online(client)

    def _registered(self, session: Session) -> None:
        session.registered = True
        self.registered_sessions += 1
        if self.on_registered is not None:
            self.on_registered(session)

    # -- several sessions of one person (multiclient)

    def multiclient(self, account: str) -> bool:
        """Whether connections logged in to `account` attach to its person here."""
        if not self.config.accounts.multiclient:
            return False
        record = self.accounts.get(account) if self.accounts is not None else None
        return record is None or record.multiclient

    def account_person(self, session: Session) -> Client | None:
        """The person online here that the logged-in `session` attaches to (None: it
        registers a person of its own)."""
        account = session.account
        person = self.persons.account_person(account) if account else None
        if person is None:
            return None
        # An always-on person with no connection is its account's to take up, with or
        # without multiclient (ircpsyc.ircd.always_on).
        return person if not person.sessions or self.multiclient(account) else None

    def location_person(self, account_name: str, user: str, host: str) -> Client | None:
        """The person another front-end's location of `account_name` (an XMPP user
        bound to it) is part of: the one online here, else a new one with no session
        under the account's name, as an always-on person is restored (None when the
        account lives on another server or its name is in use as someone's nick)."""
        found = self.persons.account_person(account_name)
        if found is not None:
            return found
        accounts = self.accounts
        account = accounts.get(account_name) if accounts is not None else None
        nickserv = self.nickserv
        if account is None or nickserv is None:
            return None
        if nickserv.sync.home_of(account).lower() != self.name.lower():
            return None  # a person lives at its account's home
        nick = account.name
        if self.persons.find(nick) is not None or casefold(nick) in self.persons.reserved:
            return None
        client = Client.restored(self, nick, user, host, account.name, "0.0.0.0", self.clock())
        client.account = account.name
        client.metadata = self.account_metadata.load(account.name)
        self.persons.add(client)
        self.max_local = max(self.max_local, len(self.clients))
        self.persons.tell_online(client)
        return client

    def elsewhere(self, session: Session) -> str:
        """Why a logged-in session may not register here: the nick it asks for is its
        account's person's, online on another server of the network ("" if not).
        A person lives on one server; its sessions connect there."""
        nick = session.nick or session.nick_refused
        roster = self.persons.roster
        if not session.account or not nick or roster is None:
            return ""
        found = roster.find(casefold(nick))
        if found is None or casefold(found.account) != casefold(session.account):
            return ""
        if not self.multiclient(session.account):
            return ""
        return (
            f"{found.nick} (account {found.account}) is online on {found.server}:"
            f" connect to {found.server} to use it from one more client"
        )

    def attach(self, session: Session, person: Client) -> None:
        """A connection logged in to the account of `person` becomes one more of its
        sessions: the welcome with its nick, its user modes, the JOIN, topic and NAMES
        of its channels, and its away state (draft/pre-away)."""
        limit = self.config.accounts.max_sessions
        if len(person.sessions) >= limit:
            reason = f"Too many connections for account {person.account} (at most {limit})"
            session.fail("*", "TOO_MANY_SESSIONS", reason)
            session.close(reason)
            return
        if session.nick and self.reserved.get(casefold(session.nick)) is session:
            del self.reserved[casefold(session.nick)]
        session.nick = person.nick
        session.client = person
        person.sessions = (*person.sessions, session)
        self._registered(session)
        if session.pre_metadata:  # METADATA * SET before registration: the person's now
            changes = meta.diff(person.metadata, {**person.metadata, **session.pre_metadata})
            person.metadata = {**person.metadata, **session.pre_metadata}
            session.pre_metadata = EMPTY
            self.account_metadata.save(person.account, changes)
            meta.changed(person, self.name, changes, session)
        self.welcome(session)
        modes = "".join(sorted(person.modes - {"x"}))  # +x was shown by the welcome
        if modes:
            session.send(line(person.prefix, "MODE", person.nick, "+" + modes))
        extended = C.EXTENDED_JOIN in session.caps
        for view in list(person.channels.values()):
            extra = [person.account or "*", person.realname] if extended else []
            session.send(line(person.prefix, "JOIN", view.name, *extra))
            if view.topic:
                send_topic(session, view)
            send_marker(
                self.name, session, self.readmarkers, person, view.name
            )  # before NAMES' end
            if C.NO_IMPLICIT_NAMES not in session.caps:
                send_names(session, view)
        # A session that is not away brings the person back; the away log that
        # would replay then comes with the device's replay instead (`tell_attached`,
        # ircpsyc.ircd.replay), which leaves out what it already showed.
        self.attaching.add(session)
        try:
            person.update_away()
        finally:
            self.attaching.discard(session)
        if person.away:
            session.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
        self.persons.tell_attached(person, session)

    def welcome(self, session: Session) -> None:
        nick = session.nick
        client = session.client
        assert client is not None
        session.numeric(
            N.RPL_WELCOME,
            f"Welcome to the {self.config.server.network} IRC Network {client.prefix}",
        )
        session.numeric(
            N.RPL_YOURHOST, f"Your host is {self.name}, running version ircpsyc-{__version__}"
        )
        created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.created))
        session.numeric(N.RPL_CREATED, f"This server was created {created}")
        session.numeric(
            N.RPL_MYINFO,
            self.name,
            f"ircpsyc-{__version__}",
            M.USER_MODES if self.cloaks.enabled else M.USER_MODES.replace("x", ""),
            "".join(
                sorted(
                    M.LIST_MODES + M.PARAM_MODES + M.SET_PARAM_MODES + M.FLAG_MODES + M.RANK_ORDER
                )
            ),
            "".join(sorted(M.LIST_MODES + M.PARAM_MODES + M.SET_PARAM_MODES + M.RANK_ORDER)),
        )
        self.send_isupport(session)
        self.cloaks.welcome(session)  # 396: the displayed host
        send_lusers(session)
        if meta.enabled(session.caps):  # its metadata, before the end of the MOTD
            self.send_metadata(session, nick, client.metadata)
        send_motd(session)
        self.cloaks.welcomed(session)  # MODE +x
        del nick

    def send_metadata(
        self, session: Session, target: str, lines: dict[str, str] | list[bytes]
    ) -> None:
        """A `metadata` batch for `target`: RPL_KEYVALUE for every key of a dict, or
        the lines given (bare without batch)."""
        if isinstance(lines, dict):
            lines = [
                meta.key_value(self.name, session.nick, target, k, v) for k, v in lines.items()
            ]
        if C.BATCH not in session.caps:
            for data in lines:
                session.send(data)
            return
        for data in meta.batch_lines(self.name, self.new_batch_id(), target, lines):
            session.send(data)

    def send_isupport(self, session: Session) -> None:
        tokens = self.isupport
        for start in range(0, len(tokens), 12):
            session.numeric(
                N.RPL_ISUPPORT, *tokens[start : start + 12], "are supported by this server"
            )

    # -- connections coming and going

    def session_gone(self, session: Session, reason: str) -> None:
        if session in self.sessions:
            del self.sessions[session]
            if session.registered:
                self.registered_sessions -= 1
        self.hostnames.forget(session)
        if session.nick and self.reserved.get(casefold(session.nick)) is session:
            del self.reserved[casefold(session.nick)]
        client = session.client
        if client is not None:
            self.moderation.session_gone(session, reason)
            if session in client.sessions:
                for observer in self.person_observers:
                    observer.session_detached(client, session)
            client.detach(session, reason)
            if client.sessions:  # another session goes on: is the person away now?
                client.update_away()

    def forget(self, client: Person) -> None:
        """Drop a person from the roster after its last session left."""
        self.persons.forget(client)

    # -- MONITOR

    def unmonitor(self, client: Person, folded: str) -> None:
        self.persons.unmonitor(client, folded)

    def announce_online(self, client: Person) -> None:
        self.persons.announce_online(client)

    def announce_offline(self, nick: str) -> None:
        self.persons.announce_offline(nick)

    def notify_watchers(self, client: Person, data: bytes, cap: str) -> set[int]:
        """extended-monitor: send an event line to watchers with `cap`; returns who got it."""
        return notify_watchers(self.persons, client, data, cap)

    def remember(self, client: Person) -> None:
        self.persons.remember(client)

    def tick(self, now: float) -> None:
        for session in list(self.sessions):
            session.tick(now)
        for ticker in self.tickers:
            ticker(now)

    def shutdown(self, reason: str) -> None:
        for session in list(self.sessions):
            session.close(reason)

    # -- counts for LUSERS

    def counts(self) -> dict[str, Any]:
        # Kept as running counts: LUSERS is part of every registration, so a scan of
        # all clients here would make registering N clients cost O(N^2).
        invisible = self.mode_counts["i"]
        opers = self.mode_counts["o"]
        unknown = len(self.sessions) - self.registered_sessions
        return {
            "users": len(self.clients) - invisible,
            "invisible": invisible,
            "opers": opers,
            "unknown": unknown,
            "channels": len(self.places),
            "local": len(self.clients),
            "max_local": self.max_local,
        }


def caps_ls(session: Session) -> list[str]:
    """The CAP LS tokens, with values when the client speaks 302."""
    version = session.cap_version
    offered = {**C.SUPPORTED, **{name: value() for name, value in session.core.extra_caps.items()}}
    out = [f"{n}={v}" if v and version >= 302 else n for n, v in sorted(offered.items())]
    sts = sts_value(session)
    if sts and version >= 302:
        out.append(f"{C.STS}={sts}")
    return out


def cap_value(core: IRCServer, name: str) -> str:
    value = core.extra_caps.get(name)
    return value() if value is not None else C.SUPPORTED.get(name, "")


def cap_offered(core: IRCServer, name: str) -> bool:
    return name in C.SUPPORTED or name in core.extra_caps


def _sts_on(config: Config) -> bool:
    return bool(config.listen.irc_tls) and config.tls.sts_duration > 0


def sts_value(session: Session) -> str:
    """IRCv3 sts: the TLS port for plain-text clients, the duration for TLS ones."""
    config = session.core.config
    if not config.listen.irc_tls or config.tls.sts_duration <= 0:
        return ""
    if session.tls:
        return f"duration={config.tls.sts_duration}"
    port = config.tls.sts_port or config.listen.irc_tls_addrs[0][1]
    return f"port={port}"
