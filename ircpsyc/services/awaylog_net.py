"""The away log across the network: each account's log lives at the account's home.

An account is network-wide (ircpsyc.services.account_sync) and may log in on
any server, so what it missed is kept in one place, the away log of its home
server (the account's `home`; an account this server does not know is kept
where it was found).  Every linked server has an away-log service,
`psyc://SERVER/$awaylog`:

* a server that has a line for an account homed elsewhere (a private message
  to the account while nobody uses its nick, a private message that arrived
  for a local person who is away, a mention in a channel) hands it to the
  home with `_request_awaylog_store`;
* a server where the account logs in, or comes back from AWAY, fetches the
  unread entries with `_request_awaylog`, replays them as it replays its own,
  then tells the home they were read with `_request_awaylog_read`;
* AWAYLOG LIST | PLAY | CLEAR on any server act on the home's log.

The servers of the network trust each other (as for SASL, every server may
log anybody in): the home answers any server of the network and nobody else.

    _request_awaylog_store   psyc://S/$awaylog -> psyc://HOME/$awaylog, routing _tag
        _account_awaylog        whose log
        _method_awaylog         the method of the line (_message_private, _message_public, ...)
        _nick_place_awaylog     a mention: the channel it was said in (absent: a private message)
        the line's own variables (_nick, _prefix, _id, _time, _account, _tags, ...)
        and its body
    _status_awaylog_store    (routing _tag_relay) kept (or kept already: one entry per msgid)
    _failure_awaylog_store   (routing _tag_relay) not kept, _reason:
        "present"              a mention for an account that is here and not away now
                               (the sender's watch is stale: it drops it)
        "disabled"             no away log on the home
        "unknown"              not a line the away log keeps

    _request_awaylog         routing _tag; _account_awaylog, _flag_unread ("1": unread only)
    the entries, oldest first: each with the line's method, variables and body, and
        _index_awaylog          the entry's number at the home (for _request_awaylog_read)
        _time_awaylog           when it was kept (ms)
        _nick_place_awaylog     the channel of a mention ("" for a private message)
        _flag_read              "1" when it was read already
        routing _tag_relay
    _echo_awaylog            routing _tag_relay, _amount: how many entries were sent
    _failure_awaylog         routing _tag_relay: no away log there

    _request_awaylog_read    _account_awaylog, _index_awaylog: entries up to it were played
                             (no answer)
    _request_awaylog_clear   routing _tag; _account_awaylog
    _status_awaylog_clear    routing _tag_relay; _amount: how many entries were deleted

Unicasts between two servers keep their order, so the entries arrive before
their `_echo_awaylog`.  Every request with a `_tag` is answered by calling its
`done` once: with the answer, or with a failure when the home refused it, was
lost, or did not answer within network.request_timeout seconds (whatever
arrives for it later is dropped).  The service is sans-IO: `tick` expires
requests with the time it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value, number
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.uniform import host_of
from ircpsyc.services.awaylog import AwayEntry, AwayLog

if TYPE_CHECKING:
    from ircpsyc.config import Config
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.router import Router

log = logging.getLogger(__name__)

SERVICE = "$awaylog"
# Variables of the away log itself, not of the kept line.
OWN_VARS = frozenset(
    {
        V.ACCOUNT_AWAYLOG,
        V.METHOD_AWAYLOG,
        V.NICK_PLACE_AWAYLOG,
        V.INDEX_AWAYLOG,
        V.TIME_AWAYLOG,
        V.FLAG_READ,
        V.FLAG_UNREAD,
    }
)
# What the away log keeps (its senders' own filters apply before this one).
KEPT = (V.MESSAGE_PRIVATE, V.MESSAGE_PUBLIC)

Stored = Callable[[str], None]  # "" when kept, else the reason it was not
Fetched = Callable[[list[AwayEntry] | None], None]
Cleared = Callable[[int | None], None]


@dataclass(slots=True)
class Asked:
    """What a request keeps: its kind, whose log, whom to tell, and the entries so far."""

    kind: str  # "store", "fetch" or "clear"
    account: str
    done: Callable[[Any], None]
    entries: list[AwayEntry] = field(default_factory=list)


class NetAwayLog:
    """The away-log service of this server: hands lines to homes, and is one."""

    def __init__(
        self,
        network: Network,
        router: Router,
        awaylog: Callable[[], AwayLog | None],
        config: Callable[[], Config],
        clock: Callable[[], float],
    ) -> None:
        self.network = network
        self.router = router
        self.awaylog = awaylog
        self.config = config
        self.clock = clock
        self.me = network.me
        self.uniform = f"psyc://{self.me}/{SERVICE}"
        self.requests: Requests[Asked] = Requests(
            "a", clock, lambda: config().network.request_timeout, self._failed, network
        )
        self.stored = 0  # lines kept here for accounts of this server, from others
        self.handed = 0  # lines handed to other homes
        router.register(self)

    # -- asking a home

    def _ask(
        self,
        home: str,
        kind: str,
        method: str,
        account: str,
        vars: dict[str, Value],
        body: str,
        done: Callable[[Any], None],
    ) -> bool:
        if not self.requests.can_ask(home):
            return False
        tag = self.requests.tag()
        vars[V.ACCOUNT_AWAYLOG] = account
        packet = Packet(
            method,
            {V.SOURCE: self.uniform, V.TARGET: f"psyc://{home}/{SERVICE}", V.TAG: tag},
            vars,
            body,
        )
        if not self.router.send(packet):
            return False
        self.requests.add(tag, home, Asked(kind, account, done))
        return True

    def store(self, home: str, account: str, line: Packet, channel: str, done: Stored) -> bool:
        """Hand `line` (a private message, or a mention in `channel`) to the away log of
        `account` at `home`; `done("")` once kept, `done(reason)` if not.  False (and
        `done` never called) when the home cannot be asked now."""
        vars: dict[str, Value] = {k: v for k, v in line.vars.items() if k not in OWN_VARS}
        vars[V.METHOD_AWAYLOG] = line.method
        if channel:
            vars[V.NICK_PLACE_AWAYLOG] = channel
        sent = self._ask(home, "store", V.REQUEST_AWAYLOG_STORE, account, vars, line.body, done)
        if sent:
            self.handed += 1
        return sent

    def fetch(self, home: str, account: str, unread_only: bool, done: Fetched) -> bool:
        """The entries of `account` at `home` (`done(None)` if they could not be had)."""
        vars: dict[str, Value] = {V.FLAG_UNREAD: "1" if unread_only else "0"}
        return self._ask(home, "fetch", V.REQUEST_AWAYLOG, account, vars, "", done)

    def clear(self, home: str, account: str, done: Cleared) -> bool:
        """Delete the log of `account` at `home`; `done(count)`, or `done(None)`."""
        return self._ask(home, "clear", V.REQUEST_AWAYLOG_CLEAR, account, {}, "", done)

    def mark_read(self, home: str, account: str, upto: int) -> None:
        """Entries of `account` at `home` up to number `upto` were played."""
        if not self.requests.can_ask(home):
            return
        self.router.send(
            Packet(
                V.REQUEST_AWAYLOG_READ,
                {V.SOURCE: self.uniform, V.TARGET: f"psyc://{home}/{SERVICE}"},
                {V.ACCOUNT_AWAYLOG: account, V.INDEX_AWAYLOG: str(upto)},
            )
        )

    # -- packets in

    def receive(self, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.REQUEST_AWAYLOG):
            self._answer(packet)
            return
        request = self.requests.get(packet)
        if request is None:
            return  # late (it timed out), or not ours: dropped
        asked = request.data
        if method.startswith(V.ECHO_AWAYLOG):
            self._answered(request, asked.entries)
        elif method.startswith(V.STATUS_AWAYLOG_CLEAR):
            self._answered(request, _int(packet.get(V.AMOUNT)))
        elif method.startswith(V.STATUS_AWAYLOG_STORE):
            self._answered(request, "")
        elif method.startswith((V.ERROR, V.FAILURE)):
            self._answered(request, _failed(asked, packet.get(V.REASON) or "refused"))
        elif (
            asked.kind == "fetch"
            and method.startswith(KEPT)
            and len(asked.entries) < self._max_entries()
        ):
            asked.entries.append(_entry_of(packet, asked.account, request.home))

    def _max_entries(self) -> int:
        return int(self.config().awaylog.max_entries)

    def _answered(self, request: Request[Asked], result: object) -> None:
        self.requests.answered_by(request)
        self._finish(request, result)

    def _failed(self, request: Request[Asked], why: Failure) -> None:
        if why == "timeout":
            log.info("away log request %s to %s timed out", request.tag, request.home)
        self._finish(request, _failed(request.data, why))

    def _finish(self, request: Request[Asked], result: object) -> None:
        try:
            request.data.done(result)
        except Exception:
            log.exception("away log answer from %s failed", request.home)

    # -- answering as the home

    def _answer(self, packet: Packet) -> None:
        source = packet.source
        server = host_of(source)
        tag = packet.routing.get(V.TAG, "")
        routing = {V.SOURCE: self.uniform, V.TARGET: source, V.TAG_RELAY: tag}
        method = packet.method
        account = packet.get(V.ACCOUNT_AWAYLOG)
        awaylog = self.awaylog()
        if not self.network.in_network(server) or server == self.me or not account:
            return  # strangers get nothing
        if awaylog is None or not awaylog.enabled:
            if tag:
                self.router.send(
                    Packet(
                        V.FAILURE_AWAYLOG + method[len(V.REQUEST_AWAYLOG) :],
                        routing,
                        {V.REASON: "disabled"},
                    )
                )
            return
        if method.startswith(V.REQUEST_AWAYLOG_STORE):
            self._store_in(awaylog, packet, account, routing)
        elif method.startswith(V.REQUEST_AWAYLOG_READ):
            awaylog.mark_read_upto(account, _int(packet.get(V.INDEX_AWAYLOG)))
        elif method.startswith(V.REQUEST_AWAYLOG_CLEAR):
            count = awaylog.clear(account)
            self.router.send(Packet(V.STATUS_AWAYLOG_CLEAR, routing, {V.AMOUNT: str(count)}))
        else:
            unread_only = packet.get(V.FLAG_UNREAD) == "1"
            entries = awaylog.entries(account, unread_only=unread_only)
            for entry in entries:
                vars = dict(entry.vars)
                vars[V.INDEX_AWAYLOG] = str(entry.seq)
                vars[V.TIME_AWAYLOG] = str(entry.time)
                vars[V.NICK_PLACE_AWAYLOG] = entry.channel
                vars[V.FLAG_READ] = "1" if entry.read else "0"
                self.router.send(Packet(entry.method, dict(routing), vars, entry.body))
            self.router.send(Packet(V.ECHO_AWAYLOG, routing, {V.AMOUNT: str(len(entries))}))

    def _store_in(
        self, awaylog: AwayLog, packet: Packet, account: str, routing: dict[str, str]
    ) -> None:
        line_method = packet.get(V.METHOD_AWAYLOG)
        channel = packet.get(V.NICK_PLACE_AWAYLOG)
        reason = ""
        if not line_method.startswith(KEPT):
            reason = "unknown"
        elif channel and awaylog.present(account):
            reason = "present"
        if reason:
            self.router.send(Packet(V.FAILURE_AWAYLOG_STORE, routing, {V.REASON: reason}))
            return
        vars = {k: v for k, v in packet.vars.items() if k not in OWN_VARS}
        awaylog.record(account, Packet(line_method, {}, vars, packet.body), channel)
        self.stored += 1
        self.router.send(Packet(V.STATUS_AWAYLOG_STORE, routing, {V.ACCOUNT_AWAYLOG: account}))

    def snapshot(self) -> dict[str, Any]:
        return {
            "pending": len(self.requests),
            "stored": self.stored,
            "handed": self.handed,
            "expired": self.requests.expired,
        }


def _failed(asked: Asked, reason: str) -> object:
    """What `done` gets for a request that failed: a reason for a store, else None."""
    return reason if asked.kind == "store" else None


def _entry_of(packet: Packet, account: str, home: str) -> AwayEntry:
    vars = {k: v for k, v in packet.vars.items() if k not in OWN_VARS}
    return AwayEntry(
        _int(packet.get(V.INDEX_AWAYLOG)),
        account,
        _int(packet.get(V.TIME_AWAYLOG)),
        packet.get(V.NICK_PLACE_AWAYLOG),
        packet.method,
        vars,
        packet.body,
        packet.get(V.FLAG_READ) == "1",
        home,
    )


def _int(text: str) -> int:
    return max(0, number(text, 0))
