"""MONITOR (IRCv3): tell a client when the nicks it watches come and go."""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import metadata as meta
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import MONITOR_LIMIT, command
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.uniform import casefold


def _status(s: Session, nicks: list[str]) -> None:
    online, offline = [], []
    for nick in nicks:
        client = s.core.find(nick)
        if client is not None:
            online.append(client.prefix)
        else:
            offline.append(nick)
    if online:
        s.numeric(N.RPL_MONONLINE, ",".join(online))
    if offline:
        s.numeric(N.RPL_MONOFFLINE, ",".join(offline))


# MONITOR {+|-} <target>{,<target>}   |   MONITOR {C|L|S}
@command("MONITOR", min_params=1)
def handle_monitor(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    core = s.core
    sub = msg.params[0]
    targets = [t for t in (msg.params[1].split(",") if len(msg.params) > 1 else []) if t]
    monitoring = client.monitoring or {}
    if sub == "+":
        monitoring = client.monitoring = monitoring  # made on first use: most never do
        added: list[str] = []
        for index, nick in enumerate(targets):
            if len(monitoring) >= MONITOR_LIMIT:
                s.numeric(
                    N.ERR_MONLISTFULL,
                    str(MONITOR_LIMIT),
                    ",".join(targets[index:]),
                    "Monitor list is full.",
                )
                break
            folded = casefold(nick)
            if folded not in monitoring:
                monitoring[folded] = nick
                core.monitors.setdefault(folded, set()).add(client)
            added.append(nick)
        _status(s, added)
        if s.metadata_subs and meta.enabled(s.caps):  # IRCv3 metadata: their keys now
            lines: list[bytes] = []
            for nick in added:
                found = core.find(nick)
                if found is not None and found.metadata:
                    lines += meta.subscribed_lines(core.name, s, found.nick, found.metadata)
            if lines:
                core.send_metadata(s, s.nick, lines)
    elif sub == "-":
        for nick in targets:
            core.unmonitor(client, casefold(nick))
    elif sub.upper() == "C":
        for folded in list(monitoring):
            core.unmonitor(client, folded)
    elif sub.upper() == "L":
        nicks = list(monitoring.values())
        for start in range(0, len(nicks), 20):
            s.numeric(N.RPL_MONLIST, ",".join(nicks[start : start + 20]))
        s.numeric(N.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub.upper() == "S":
        _status(s, list(monitoring.values()))
    else:
        s.numeric(N.ERR_UNKNOWNCOMMAND, "MONITOR", "Unknown MONITOR subcommand")
