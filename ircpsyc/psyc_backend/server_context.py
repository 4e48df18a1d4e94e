"""What the per-server contexts of a network share (the roster, the channel directory).

Each server is the master of its own `psyc://SERVER/$name`: it casts changes with
a `_counter` to the other servers and answers `_request_<name>` with
`_status_<name>`, its whole copy.  The others ask for that copy when they first
hear of the server, when it comes back, or when a cast shows a gap.

The counting itself is `ircpsyc.psyc_backend.context`'s; this adds the asking
for whole copies, with `-1` for "no copy yet", which the roster and the
directory replicas keep per server.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import Order, order
from ircpsyc.psyc_backend.network import Network
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import root

ASK_AGAIN = 2.0  # seconds before the same server is asked for its copy again


class ServerContext:
    """This server's `$name` context and the asking for the others' copies."""

    def __init__(
        self,
        network: Network,
        router: Router,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.network = network
        self.router = router
        self.name = name
        self.clock = clock
        self.me = network.me
        self.uniform = f"psyc://{self.me}/${name}"
        self.asked: dict[str, float] = {}

    def is_peer(self, server: str) -> bool:
        """Another server of the network (the only ones whose copies we keep or ask)."""
        return server != self.me and self.network.in_network(server)

    def ask(self, server: str, counter: int = -1, again: bool = False) -> None:
        """`_request_<name>` to `server` (not twice within ASK_AGAIN unless `again`);
        `counter`: the last cast we have, or -1 for the whole copy."""
        now = self.clock()
        if not again and now - self.asked.get(server, -ASK_AGAIN) < ASK_AGAIN:
            return
        self.asked[server] = now
        self.router.send(
            Packet(
                V.REQUEST_PREFIX + self.name,
                {V.SOURCE: root(self.me), V.TARGET: f"psyc://{server}/${self.name}"},
                {V.COUNTER: str(counter)},
            )
        )

    def send_copy(self, server: str, counter: int, vars: dict[str, Value]) -> None:
        """`_status_<name>`: our whole copy, as of cast `counter`, to `server`."""
        self.router.send(
            Packet(
                V.STATUS_PREFIX + self.name,
                {V.CONTEXT: self.uniform, V.TARGET: root(server), V.COUNTER: str(counter)},
                vars,
            )
        )

    def got_copy(self, server: str) -> None:
        self.asked.pop(server, None)

    def in_order(self, server: str, last: int, counter: int) -> bool:
        """Whether a cast numbered `counter` comes right after `last`; on a gap the
        whole copy is asked for (an old or repeated cast is just dropped)."""
        found = order(last, counter)
        if found is Order.GAP:
            self.ask(server, last)
        return found is Order.NEXT
