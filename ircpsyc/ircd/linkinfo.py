"""The server network in figures: server descriptions (WHOIS 312, LINKS) and the
link statistics of STATS l and L (the commands are `ircpsyc.ircd.commands.links`
and `.info`)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ircpsyc.ircd import numerics as N

if TYPE_CHECKING:
    from ircpsyc.ircd.core import IRCServer

RPL_STATSDEBUG = "249"
DEFAULT_DESCRIPTION = "ircpsyc"  # a server that advertises none (an older one)


def server_description(core: IRCServer, server: str) -> str:
    """What WHOIS (312), WHOWAS and LINKS show for `server`: its `[server] description`,
    which the others learn from its topology advertisements."""
    if server.lower() == core.name.lower():
        return core.config.server.description
    text = core.net.network.description_of(server.lower())
    return text or DEFAULT_DESCRIPTION


def link_stats(core: IRCServer, query: str, oper: bool) -> list[tuple[str, list[str]]]:
    """STATS l (a line per link) and L (JSON, operators only)."""
    net = core.net
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
        rows = json_rows({}, snapshot)
        for link in links:
            rows += json_rows({"name": link.pop("name")}, link)
        for name, figures in services.items():
            rows += json_rows({"service": name}, figures)
        out += [(RPL_STATSDEBUG, ["L", row]) for row in rows]
    return out


JSON_ROW = 400  # bytes of JSON per 249 line: the rest of the line must fit in 512


def json_rows(marker: dict[str, Any], data: dict[str, Any]) -> list[str]:
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
