"""What another server of the network says about itself: VERSION, MOTD, TIME, ADMIN, INFO.

`VERSION s1.example` (and MOTD, TIME, ADMIN, INFO with a server name, a mask
or a nick; ircpsyc.ircd.commands.info) names a server of the network other
than this one: its `psyc://SERVER/$info` answers, and the client sees the usual
numerics with that server as their source.

Every server has the entity `psyc://SERVER/$info` (`ServerInfo`).  Like
`$operators` (ircpsyc.ircd.operator_service) it takes packets only from the root
`psyc://HOST/` of another server of the network (a foreign federated server,
or a person or place anywhere, is refused), and sends its own from this
server's root to the `$info` of the others.

* `_request_server_info` — `_command`: VERSION, MOTD, TIME, ADMIN or INFO;
  routing `_tag`.  Answered, with the tag back as `_tag_relay`, by
* `_status_server_info` — `_command` and what it shows (see
  `info_vars`): VERSION `_version`, `_description`
  and `_list_isupport` (the 005 tokens); MOTD `_flag_motd` (0: none, 422) and
  `_list_motd`; TIME `_time` (Unix seconds); ADMIN `_admin_location`,
  `_admin_name`, `_admin_email`; INFO `_list_info`.
* `_failure_server_info` — a `_command` it does not know.

The asking client's input waits for the answer (`Session.later`); a failure,
no answer within `[network] request_timeout`, or the server lost meanwhile
give it 402 ERR_NOSUCHSERVER, and a late answer is dropped
(ircpsyc.psyc_backend.requests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ircpsyc import __version__
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import Network, host_of
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.uniform import normalize, root

if TYPE_CHECKING:
    from ircpsyc.ircd.ports import ServerFacts

log = logging.getLogger(__name__)

_INFO = [
    f"ircpsyc {__version__}",
    "An IRC server whose channels are PSYC places:",
    "one home server decides for each channel, and its messages",
    "reach other servers by multicast, one copy per server link.",
]


def info_vars(core: ServerFacts, command: str) -> dict[str, Value]:
    """What this server shows for `command`, as the variables of `_status_server_info`."""
    if command == "VERSION":
        return {
            V.VERSION: f"ircpsyc-{__version__}",
            V.DESCRIPTION: "PSYC places behind IRC",
            V.LIST_ISUPPORT: list(core.isupport),
        }
    if command == "MOTD":
        # The flag: an MOTD of one empty line and no MOTD are different things.
        lines = core.motd_lines
        return {V.FLAG_MOTD: "1" if lines else "0", V.LIST_MOTD: list(lines)}
    if command == "TIME":
        return {V.TIME: str(int(core.clock()))}
    if command == "ADMIN":
        server = core.config.server
        return {
            V.ADMIN_LOCATION: server.admin_location or server.description,
            V.ADMIN_NAME: server.admin_name or server.network,
            V.ADMIN_EMAIL: server.admin_email or "(none configured)",
        }
    if command == "INFO":
        return {V.LIST_INFO: list(_INFO)}
    return {}


INFO = "$info"
COMMANDS = frozenset({"VERSION", "MOTD", "TIME", "ADMIN", "INFO"})

# Called once with the answer, or with None and why there is none.
Done = Callable[[Packet | None, str], None]


class ServerInfo:
    """This server's `$info`: answers the others, and asks them for our clients."""

    def __init__(self, core: ServerFacts, network: Network) -> None:
        self.core = core
        self.network = network
        self.me = network.me
        self.uniform = f"psyc://{self.me}/{INFO}"
        self.refused = 0
        self.requests: Requests[Done] = Requests(
            "i", core.clock, lambda: core.config.network.request_timeout, self._failed, network
        )

    # -- asking

    def ask(self, server: str, command: str, done: Done) -> bool:
        """Ask `server` for what `command` shows: `done(packet, "")` later, or
        `done(None, why)`.  False (and no call) when it cannot be asked now."""
        if command not in COMMANDS or not self.requests.can_ask(server):
            return False
        tag = self.requests.tag()
        packet = Packet(
            V.REQUEST_SERVER_INFO,
            {V.SOURCE: root(self.me), V.TARGET: f"psyc://{server}/{INFO}", V.TAG: tag},
            {V.COMMAND: command},
        )
        if not self.core.router.send(packet):
            return False
        self.requests.add(tag, server, done)
        return True

    def _failed(self, request: Request[Done], why: Failure) -> None:
        request.data(None, "Server did not answer" if why == "timeout" else "Server split")

    # -- packets in

    def receive(self, packet: Packet) -> None:
        server = self._trusted(packet)
        if not server:
            self.refused += 1
            log.warning("%s: refused %s from %s", INFO, packet.method, packet.source)
            return
        method = packet.method
        if method.startswith(V.REQUEST_SERVER_INFO):
            self._answer(server, packet)
        elif method.startswith((V.STATUS_SERVER_INFO, V.FAILURE_SERVER_INFO)):
            request = self.requests.get(packet)
            if request is None or not self.requests.answered_by(request):
                return  # late (already failed) or never asked
            if method.startswith(V.STATUS):
                request.data(packet, "")
            else:
                request.data(None, "Server cannot answer that")

    def _trusted(self, packet: Packet) -> str:
        """The server that sent the packet, if it is the root of another server of
        the network (links are authenticated; the rest is never a server's word)."""
        source = packet.source
        host = host_of(source)
        if not host or host == self.me or not self.network.in_network(host):
            return ""
        return host if normalize(source) == normalize(root(host)) else ""

    def _answer(self, server: str, packet: Packet) -> None:
        tag = packet.routing.get(V.TAG, "")
        if not tag:
            return  # an answer nobody could match
        command = packet.get(V.COMMAND).upper()
        vars: dict[str, Value] = {V.COMMAND: command}
        method = V.FAILURE_SERVER_INFO
        if command in COMMANDS:
            method = V.STATUS_SERVER_INFO
            vars.update(info_vars(self.core, command))
        routing = {V.SOURCE: root(self.me), V.TARGET: f"psyc://{server}/{INFO}"}
        routing[V.TAG_RELAY] = tag
        self.core.router.send(Packet(method, routing, vars))
