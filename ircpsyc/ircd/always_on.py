"""Always-on persons on IRC: kept online with no connection, attached to, restored.

The service (`ircpsyc.services.always_on.AlwaysOnService`) decides which
accounts' persons stay online and keeps their records; this module is what
IRC users see of it:

* When the last session of a logged-in person leaves and its account is
  always-on (and homed here), the person stays: no QUIT, no PART, its nick is
  still taken (433 to others), WHOIS and NAMES show it, and with
  `[accounts] auto_away` it is marked away ("Disconnected", with away-notify
  to its channels' members), so private messages to it go to its away log
  (and to the private history, as for anybody) and mentions are watched.
* A connection that logs in to the account (SASL or PASS before registering)
  attaches to the person (`IRCServer.attach`, with or without multiclient):
  welcome with its nick, JOIN, topic and NAMES of its channels; the automatic
  away is cleared, which replays the away log.
* The records are written when a person is kept (so also when the server
  stops, as its connections close) and read at start (`restore`): persons
  come back with nick, away, user modes (never +o) and channels (those homed
  on other servers once their server is reachable).
* It ends with NickServ LOGOUT (the person then leaves with its last
  connection), DROP, GHOST and RECOVER (ircpsyc.ircd.service_users), an
  operator's KILL (a `disconnector` of the directory), and after
  `[accounts] always_on_expire` days without a connection.
* On a network the person is kept only on its account's home server; a
  connection on another server that asks for its nick is refused there
  (`IRCServer.elsewhere`), one with a nick of its own is an ordinary one that
  quits when it leaves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client, notify_peers
from ircpsyc.ircd.core import IRCServer, PersonObserver
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.accounts import Account
from ircpsyc.services.always_on import DAY, AlwaysOnService, KeptPerson

AUTO_AWAY = "Disconnected"  # the away text of a person with no connection
KEPT_MODES = "iwBx"  # user modes a restored person keeps (never o: opers log in again)
EXPIRED = "Always-on expired: not used for too long"
EXPIRY_CHECK = 60.0  # seconds between looks for expired persons (at most)
REJOIN_WINDOW = 600.0  # seconds a restored person waits for its channels' servers
# A person with no session renders nothing, so it needs no memory of the events it
# showed: all of them share this one, which keeps nothing (a deque costs ~600 bytes).
NOTHING_SEEN: deque[str] = deque(maxlen=0)


def set_away(client: Client, text: str) -> None:
    """Set or clear `client`'s AWAY as the AWAY command does: its sessions, its
    channels' members (away-notify), the network's roster and the away log."""
    client.away = text
    for session in client.sessions:
        if text:
            session.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
        else:
            session.numeric(N.RPL_UNAWAY, "You are no longer marked as being away")
    notify_peers(client, "AWAY", *([text] if text else []))
    for observer in client.core.person_observers:
        observer.away_changed(client)


@dataclass(slots=True)
class _Rejoin:
    """Channels on other servers a restored person goes back into once reachable."""

    client: Client
    channels: list[str]
    until: float


class AlwaysOn(PersonObserver):
    """Keeps always-on persons online, attaches connections to them, restores them."""

    def __init__(self, core: IRCServer, service: AlwaysOnService) -> None:
        self.core = core
        self.service = service
        self.persons: dict[str, Client] = {}  # casefolded account -> its always-on person
        self.rejoins: list[_Rejoin] = []
        self.next_check = 0.0

    # -- which persons

    def _account(self, name: str) -> Account | None:
        accounts = self.core.accounts
        return accounts.get(name) if accounts is not None and name else None

    def here(self, account: Account) -> bool:
        """Whether `account`'s person lives on this server (its home)."""
        nickserv = self.core.nickserv
        # Server names compare folded: the sync keeps its host lowercased, a config may
        # spell it with capitals (irctest's My.Little.Server).
        return (
            nickserv is not None
            and nickserv.sync.home_of(account).lower() == self.core.name.lower()
        )

    # -- the last session leaves

    def keep(self, person: Person, reason: str) -> bool:
        """The directory's keeper: True keeps `person` online with no session."""
        if not isinstance(person, Client) or not person.account:
            return False
        account = self._account(person.account)
        if account is None or not self.service.enabled(account.name) or not self.here(account):
            return False
        folded = account.folded
        current = self.persons.get(folded)
        if current is not None and current is not person:
            return False  # the account has its always-on person already
        self.persons[folded] = person
        person.seen = NOTHING_SEEN
        if person.is_oper:  # operator status goes with the connection that opered
            self.core.moderation.snomasks.set(person, "")
            person.set_mode("s", False)
            person.set_mode("o", False)
            person.oper_name = ""
        now = self.core.clock()
        self.service.unused(folded, now)
        if self.core.config.accounts.auto_away and not person.away:
            set_away(person, AUTO_AWAY)
        self.save(person, now)
        return True

    def save(self, client: Client, now: float, pending: list[str] | None = None) -> None:
        """Write the record of `client`, unused since `now` (with `pending`: channels
        on other servers it has not been able to go back into yet)."""
        self.service.save(
            KeptPerson(
                casefold(client.account),
                client.nick,
                client.user,
                client.host,
                client.realname,
                client.ip,
                client.away,
                "".join(sorted(m for m in client.modes if m in KEPT_MODES)),
                [view.name for view in client.channels.values()] + (pending or []),
                client.signon,
                now,
            )
        )

    # -- a connection comes back

    def session_attached(self, client: Client, session: Session) -> None:
        """A connection attached to `client` (IRCServer.attach, which also takes the
        automatic away back)."""
        if len(client.sessions) != 1:
            return  # it had a connection already
        if client.account:
            self.service.used(client.account)
        if client.seen is NOTHING_SEEN:
            client.seen = None  # made at the first event again
        # The away log comes with the device's replay (ircpsyc.ircd.replay), which
        # leaves out what it showed already.

    # -- ending it

    def end(self, client: Client, reason: str) -> None:
        """Take an always-on person offline for good (it QUITs)."""
        if client.account:
            self.service.forget(client.account)
        client.directory.let_go(client)
        client.quit(reason)

    def _is_kept(self, client: Person) -> bool:
        return bool(client.account) and self.persons.get(casefold(client.account)) is client

    def disconnect(self, victim: Person, reason: str) -> bool:
        """KILL of a person with no session (a directory `disconnector`)."""
        if isinstance(victim, Client) and not victim.sessions and self._is_kept(victim):
            self.end(victim, reason)
            return True
        return False

    def dropped(self, account: Account) -> None:
        """NickServ DROP (here or at the account's home): its person quits."""
        client = self.persons.get(account.folded)
        if client is not None and not client.sessions:
            self.end(client, "Account dropped")
        self.service.dropped(account.name)

    def person_offline(self, client: Client) -> None:
        if self._is_kept(client):
            folded = casefold(client.account)
            del self.persons[folded]
            self.service.forget(folded)

    def account_changed(self, client: Client, old_account: str) -> None:
        folded = casefold(old_account)
        if old_account and self.persons.get(folded) is client:
            del self.persons[folded]  # logged out: it leaves with its last connection
            self.service.forget(folded)
            if not client.sessions:
                client.quit("Logged out")

    # -- time

    def tick(self, monotonic: float) -> None:
        # Last use is wall-clock time (kept across restarts), so ticks go by the clock.
        now = self.core.clock()
        if self.rejoins:
            self._rejoin(now)
        if now < self.next_check:
            return
        days = self.core.config.accounts.always_on_expire
        self.next_check = now + min(EXPIRY_CHECK, max(days * DAY / 4, 0.5))
        for folded in self.service.expired(now):
            client = self.persons.get(folded)
            if client is None or client.sessions:
                self.service.used(folded)
                continue
            self.end(client, EXPIRED)
        self._refresh()

    def _refresh(self) -> None:
        """Rewrite the records of persons with no session that changed meanwhile (kicked,
        renamed by an operator, a far channel rejoined): a restart finds them as they are."""
        for folded, since in list(self.service.idle.items()):
            client = self.persons.get(folded)
            record = self.service.kept.get(folded)
            if client is None or client.sessions or record is None:
                continue
            channels = [view.name for view in client.channels.values()]
            pending = [n for r in self.rejoins if r.client is client for n in r.channels]
            if (record.nick, record.away) != (client.nick, client.away) or sorted(
                record.channels
            ) != sorted(channels + pending):
                self.save(client, since, pending)

    # -- after a restart

    def restore(self) -> int:
        """Bring back the always-on persons of the store; how many came back."""
        core = self.core
        now = core.clock()
        count = 0
        for record in list(self.service.kept.values()):
            account = self._account(record.account)
            if (
                account is None
                or not self.service.enabled(account.name)
                or not self.here(account)
                or core.find(record.nick) is not None
                or core.persons.reserved.get(casefold(record.nick)) is not None
            ):
                self.service.forget(record.account)
                continue
            self._restore(record, account, now)
            count += 1
        return count

    def _restore(self, record: KeptPerson, account: Account, now: float) -> None:
        core = self.core
        client = Client.restored(
            core, record.nick, record.user, record.host, record.realname, record.ip, record.signon
        )
        client.seen = NOTHING_SEEN
        client.account = account.name
        client.away = record.away
        client.metadata = core.account_metadata.load(account.name)  # IRCv3 metadata
        key = core.persons.add(client)
        for mode in record.modes:
            if mode in KEPT_MODES:
                client.set_mode(mode, True)
        folded = account.folded
        folded = key if folded == key else folded  # one string for every table
        self.persons[folded] = client
        self.service.unused(folded, record.last_used)
        later = []
        for name in record.channels:
            target = core.net.place_uniform(name)
            if host_of(target) == core.name:
                self._enter(client, name, target)
            else:
                later.append(name)
        if later:
            self.rejoins.append(_Rejoin(client, later, now + REJOIN_WINDOW))
        core.max_local = max(core.max_local, len(core.clients))
        core.persons.tell_online(client)

    def _enter(self, client: Client, name: str, target: str) -> None:
        vars = client.enter_vars()
        vars[V.NICK_PLACE] = name
        client.request(V.REQUEST_ENTER, target, vars)

    def _rejoin(self, now: float) -> None:
        net = self.core.net
        for pending in list(self.rejoins):
            client = pending.client
            online = self.core.clients.get(casefold(client.nick)) is client
            if not online or now > pending.until:
                self.rejoins.remove(pending)
                continue
            for name in list(pending.channels):
                target = net.place_uniform(name)
                if casefold(name) in client.channels:
                    pending.channels.remove(name)
                elif net.can_reach(target):
                    pending.channels.remove(name)
                    self._enter(client, name, target)
            if not pending.channels:
                self.rejoins.remove(pending)
