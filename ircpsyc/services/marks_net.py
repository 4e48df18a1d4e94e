"""Read markers across the network: an account's markers live at the account's home.

Every server holds the markers of the accounts its users log in to
(`ReadMarkers`, in its store), so JOIN and MARKREAD answer at once; the home of
the account (ircpsyc.services.account_sync) is where they are decided and kept
for good.  A marker only ever moves forward, so copies merge by taking the later
time and no order of arrival can move one back.  The service is
`psyc://SERVER/$markers`:

    _request_marker      psyc://S/$markers -> psyc://HOME/$markers
        _account_marker       whose markers
        _list_target_marker   targets (channels or nicks), as given
        _list_time_marker     their times (ms), same order
    _notice_marker       psyc://HOME/$markers -> psyc://X/$markers (every other
                         server), the markers that moved, same variables
    _request_markers     psyc://S/$markers -> psyc://HOME/$markers, _account_marker:
                         answered with a _notice_marker holding all of them

A server sets a marker locally first (its users see it at once), then hands it
to the home, which tells every other server when it moved there; a server
where the account logs in asks the home for all of them.  A home that cannot be
reached misses the change: it is not retried (the next marker set carries the
newer time anyway).  Servers of the network trust each other, as for accounts;
others are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value, columns, number
from ircpsyc.psyc_backend.uniform import casefold, host_of

if TYPE_CHECKING:
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.router import Router
    from ircpsyc.services.marks import ReadMarkers

SERVICE = "$markers"
_COLUMNS = (V.LIST_TARGET_MARKER, V.LIST_TIME_MARKER)
# Markers in one packet at most (an account's are sent in several).
CHUNK = 200
# The latest time a marker may have (9999-12-31T23:59:59.999Z, what server-time can
# show); a peer's later one is dropped.
MAX_STAMP = 253_402_300_799_999


class NetMarkers:
    """The read-marker service of this server: hands markers to homes, and is one."""

    def __init__(
        self,
        network: Network,
        router: Router,
        markers: ReadMarkers,
        home: Callable[[str], str],
    ) -> None:
        self.network = network
        self.router = router
        self.markers = markers
        self.home = home  # account -> its home server, "" for this one
        self.me = network.me
        self.uniform = f"psyc://{self.me}/{SERVICE}"
        router.register(self)

    def _send(self, server: str, method: str, account: str, rows: list[tuple[str, str]]) -> None:
        for start in range(0, max(len(rows), 1), CHUNK):
            vars: dict[str, Value] = {V.ACCOUNT_MARKER: account}
            vars.update(columns(_COLUMNS, rows[start : start + CHUNK]))
            self.router.send(
                Packet(
                    method,
                    {V.SOURCE: self.uniform, V.TARGET: f"psyc://{server}/{SERVICE}"},
                    vars,
                )
            )

    def _others(self) -> list[str]:
        return sorted(s for s in self.network.reachable if s != self.me)

    # -- what this server's users did

    def moved(self, account: str, target: str, stamp: int) -> None:
        """A user of this server moved a marker of `account` here: to its home, or from
        here (the home) to every other server."""
        row = [(target, str(stamp))]
        home = self.home(account)
        if not home:
            for server in self._others():
                self._send(server, V.NOTICE_MARKER, account, row)
        elif self.network.is_reachable(home):
            self._send(home, V.REQUEST_MARKER, account, row)

    def fetch(self, account: str) -> None:
        """`account` logged in here: ask its home for all its markers."""
        home = self.home(account)
        if home and self.network.is_reachable(home):
            self._send(home, V.REQUEST_MARKERS, account, [])

    # -- packets in

    def receive(self, packet: Packet) -> None:
        server = host_of(packet.source)
        account = packet.get(V.ACCOUNT_MARKER)
        if not account or server == self.me or not self.network.in_network(server):
            return  # strangers get nothing
        method = packet.method
        owner = casefold(account)
        if method == V.REQUEST_MARKERS:
            rows = [(t, str(s)) for t, s in self.markers.all_of(owner)]
            if rows:
                self._send(server, V.NOTICE_MARKER, account, rows)
            return
        if method not in (V.REQUEST_MARKER, V.NOTICE_MARKER):
            return
        moved: list[tuple[str, str]] = []
        for target, text in packet.rows(_COLUMNS):
            stamp = number(text, -1, 16)
            if not target or not 0 <= stamp <= MAX_STAMP:
                continue
            held = self.markers.get(owner, target)
            if self.markers.set(owner, target, stamp, share=False) != held:
                moved.append((target, str(stamp)))
        if moved and method == V.REQUEST_MARKER:
            # This is the home: every other server hears of it (the one that asked too:
            # its users of other servers' sessions may not have it yet).
            for other in self._others():
                self._send(other, V.NOTICE_MARKER, account, moved)
