"""The server network as operators see it: LINKS, MAP, STATS l/L, SQUIT, CONNECT.

LINKS and MAP list the servers this one can reach, along its shortest-path
tree.  STATS l gives one line per configured link (state, queue, packets and
bytes both ways, casts); STATS L (operators) dumps the same as JSON objects,
one per 249 line: the network summary (objects without a marker), each link
(`"name"`) and each network service (`"service"`: accounts, history, awaylog),
an object split over several lines when it is too long for one.  SQUIT breaks
a link (it is dialled again after the back-off, which is how tests break links);
CONNECT dials one now.
"""

from __future__ import annotations

import json
import time
from typing import Any

from irctokens.line import Line

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import IRCServer, command
from ircpsyc.ircd.session import Session

RPL_MAP = "015"
RPL_MAPEND = "017"
RPL_STATSDEBUG = "249"
DEFAULT_DESCRIPTION = "ircpsyc"  # a server that advertises none (an older one)


def server_description(core: IRCServer, server: str) -> str:
    """What WHOIS (312), WHOWAS and LINKS show for `server`: its `[server] description`,
    which the others learn from its topology advertisements."""
    if server.lower() == core.name.lower():
        return core.config.server.description
    net = core.net
    text = net.network.description_of(server.lower()) if net is not None else ""
    return text or DEFAULT_DESCRIPTION


# LINKS [[<remote server>] <server mask>]
@command("LINKS")
def handle_links(s: Session, msg: Line) -> None:
    core = s.core
    net = core.net
    if net is None:
        s.numeric(N.RPL_LINKS, core.name, core.name, f"0 {core.config.server.description}")
    else:
        for name, parent, hops in net.servers():
            text = server_description(core, name)
            s.numeric(N.RPL_LINKS, name, parent, f"{max(hops, 0)} {text}")
    s.numeric(N.RPL_ENDOFLINKS, "*", "End of /LINKS list")


# MAP
@command("MAP")
def handle_map(s: Session, msg: Line) -> None:
    core = s.core
    net = core.net
    if net is None:
        s.numeric(RPL_MAP, f"{core.name} [{len(core.clients)} users]")
        s.numeric(RPL_MAPEND, "End of /MAP")
        return
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
        s.numeric(RPL_MAP, f"{branch}{name} [{users.get(name, 0)} users]{state}")
        kids = children.get(name, [])
        for index, child in enumerate(kids):
            deeper = "" if top else indent + ("   " if last else "|  ")
            walk(child, deeper, index == len(kids) - 1, False)

    walk(network.me, "", True, True)
    for name in sorted(network.split | (network.known - network.reachable)):
        s.numeric(RPL_MAP, f"   {name} (unreachable)")
    s.numeric(RPL_MAPEND, "End of /MAP")


def link_stats(core: IRCServer, query: str, oper: bool) -> list[tuple[str, list[str]]]:
    """STATS l (a line per link) and L (JSON, operators only)."""
    net = core.net
    if net is None:
        return []
    now = time.monotonic()
    out: list[tuple[str, list[str]]] = []
    if query == "l":
        for peer in net.network.links.peers.values():
            stats = peer.stats
            up = int(now - peer.up_since) if peer.up else 0
            out.append(
                (
                    N.RPL_STATSLINKINFO,
                    [
                        f"{peer.name}[{peer.state}]",
                        str(len(peer.unacked)),
                        str(stats.packets_out),
                        str(stats.bytes_out // 1024),
                        str(stats.packets_in),
                        str(stats.bytes_in // 1024),
                        str(up),
                    ],
                )
            )
    elif query == "L" and oper:
        snapshot = net.stats()
        links = snapshot.pop("links")
        snapshot.pop("replicas", None)
        services = {k: snapshot.pop(k) for k in list(snapshot) if isinstance(snapshot[k], dict)}
        rows = _json_rows({}, snapshot)
        for link in links:
            rows += _json_rows({"name": link.pop("name")}, link)
        for name, figures in services.items():
            rows += _json_rows({"service": name}, figures)
        out += [(RPL_STATSDEBUG, ["L", row]) for row in rows]
    return out


JSON_ROW = 400  # bytes of JSON per 249 line: the rest of the line must fit in 512


def _json_rows(marker: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """`data` as JSON objects that each fit in one line, every one carrying `marker`
    (a reader merges the rows with the same marker); a value too long for a line
    on its own is shown cut, as a string."""
    rows: list[str] = []
    current = dict(marker)
    for key, value in data.items():
        candidate = {**current, key: value}
        if len(_dump(candidate)) <= JSON_ROW:
            current = candidate
            continue
        if len(current) > len(marker):
            rows.append(_dump(current))
        current = {**marker, key: value}
        if len(_dump(current)) > JSON_ROW:
            current = {**marker, key: _dump(value)[: JSON_ROW // 2] + "..."}
    if len(current) > len(marker) or not rows:
        rows.append(_dump(current))
    return rows


def read_rows(rows: list[str]) -> dict[str, Any]:
    """The STATS L lines (their JSON) put back together, for tools and tests: the
    summary, with `links` and `services` as {name: figures}."""
    summary: dict[str, Any] = {"links": {}, "services": {}}
    for text in rows:
        row = json.loads(text)
        if "name" in row:
            summary["links"].setdefault(row["name"], {}).update(row)
        elif "service" in row:
            name = row.pop("service")
            summary["services"].setdefault(name, {}).update(row)
        else:
            summary.update(row)
    return summary


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# SQUIT <server> [<comment>]
@command("SQUIT", min_params=1, oper=True)
def handle_squit(s: Session, msg: Line) -> None:
    net = s.core.net
    name = msg.params[0]
    reason = msg.params[1] if len(msg.params) > 1 else "SQUIT"
    if net is None or not net.network.links.drop(name, f"SQUIT by {s.nick}: {reason}"):
        s.numeric(N.ERR_NOSUCHSERVER, name, "No such server")
        return
    s.note(f"Link to {name} broken; it is dialled again after the back-off")


# CONNECT <server>
@command("CONNECT", min_params=1, oper=True)
def handle_connect(s: Session, msg: Line) -> None:
    net = s.core.net
    name = msg.params[0]
    if net is None or not net.network.links.redial(name):
        s.numeric(N.ERR_NOSUCHSERVER, name, "No such server")
        return
    s.note(f"Dialling {name}")
