"""The server network as operators see it: LINKS, MAP, STATS l/L, SQUIT, CONNECT.

LINKS and MAP list the servers this one can reach, along its shortest-path
tree.  STATS l gives one line per configured link (state, queue, packets and
bytes both ways, casts); STATS L (operators) dumps the same as JSON objects,
one per 249 line: the network summary (objects without a marker), each link
(`"name"`) and each network service (`"service"`: accounts, history, awaylog),
an object split over several lines when it is too long for one.  SQUIT breaks
a link (it is dialled again after the back-off, which is how tests break links);
CONNECT dials one now.  What these show is built in `ircpsyc.ircd.linkinfo`.
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.linkinfo import server_description
from ircpsyc.ircd.session import Session

RPL_MAP = "015"
RPL_MAPEND = "017"


# LINKS [[<remote server>] <server mask>]
@command("LINKS")
def handle_links(s: Session, msg: Line) -> None:
    core = s.core
    me = core.net.network.me

    def shown(name: str) -> str:  # this server as configured, not as the network folds it
        return core.name if name == me else name

    for name, parent, hops in core.net.servers():
        text = server_description(core, name)
        s.numeric(N.RPL_LINKS, shown(name), shown(parent), f"{max(hops, 0)} {text}")
    s.numeric(N.RPL_ENDOFLINKS, "*", "End of /LINKS list")


# MAP
@command("MAP")
def handle_map(s: Session, msg: Line) -> None:
    core = s.core
    net = core.net
    network = net.network
    children = network.tree_children()
    users: dict[str, int] = {network.me: len(core.clients)}
    for replica in net.roster.replicas.values():
        users[replica.server] = len(replica.persons)

    def walk(name: str, indent: str, last: bool, top: bool) -> None:
        branch = "" if top else indent + ("`- " if last else "|- ")
        state = ""
        peer = network.peer_of(name)
        if peer is not None and not top:
            state = f" ({peer.state}, queue {len(peer.unacked)})"
        shown = core.name if name == network.me else name
        s.numeric(RPL_MAP, f"{branch}{shown} [{users.get(name, 0)} users]{state}")
        kids = children.get(name, [])
        for index, child in enumerate(kids):
            deeper = "" if top else indent + ("   " if last else "|  ")
            walk(child, deeper, index == len(kids) - 1, False)

    walk(network.me, "", True, True)
    for name in sorted(network.split | (network.known - network.reachable)):
        s.numeric(RPL_MAP, f"   {name} (unreachable)")
    s.numeric(RPL_MAPEND, "End of /MAP")


# SQUIT <server> [<comment>]
@command("SQUIT", min_params=1, oper=True)
def handle_squit(s: Session, msg: Line) -> None:
    net = s.core.net
    name = msg.params[0]
    reason = msg.params[1] if len(msg.params) > 1 else "SQUIT"
    if not net.network.links.drop(name, f"SQUIT by {s.nick}: {reason}"):
        s.numeric(N.ERR_NOSUCHSERVER, name, "No such server")
        return
    s.note(f"Link to {name} broken; it is dialled again after the back-off")


# CONNECT <server>
@command("CONNECT", min_params=1, oper=True)
def handle_connect(s: Session, msg: Line) -> None:
    net = s.core.net
    name = msg.params[0]
    if not net.network.links.redial(name):
        s.numeric(N.ERR_NOSUCHSERVER, name, "No such server")
        return
    s.note(f"Dialling {name}")
