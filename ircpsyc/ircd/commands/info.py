"""Server queries: MOTD, LUSERS, VERSION, TIME, INFO, ADMIN, STATS, HELP.

LINKS and MAP, and the link lines of STATS, are in `links` (the server network).
"""

from __future__ import annotations

import time

from irctokens.line import Line

from ircpsyc import __version__
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.commands.links import link_stats
from ircpsyc.ircd.core import COMMANDS, command
from ircpsyc.ircd.session import Session


def send_motd(s: Session) -> None:
    lines = s.core.motd_lines
    if not lines:
        s.numeric(N.ERR_NOMOTD, "MOTD File is missing")
        return
    s.numeric(N.RPL_MOTDSTART, f"- {s.core.name} Message of the day - ")
    for text in lines:
        s.numeric(N.RPL_MOTD, f"- {text}")
    s.numeric(N.RPL_ENDOFMOTD, "End of /MOTD command.")


def send_lusers(s: Session) -> None:
    counts = s.core.counts()
    total = counts["users"] + counts["invisible"]
    users, invisible, opers = counts["users"], counts["invisible"], counts["opers"]
    servers, peers = 1, 0
    net = s.core.net
    if net is not None:  # persons on other servers come from the replicated rosters
        remote = net.counts()
        users += remote["users"]
        invisible += remote["invisible"]
        opers += remote["opers"]
        servers = remote["servers"]
        peers = len(net.network.links.up_peers())
    everyone = users + invisible
    s.numeric(
        N.RPL_LUSERCLIENT,
        f"There are {users} users and {invisible} invisible on {servers} servers",
    )
    s.numeric(N.RPL_LUSEROP, str(opers), "operator(s) online")
    s.numeric(N.RPL_LUSERUNKNOWN, str(counts["unknown"]), "unknown connection(s)")
    s.numeric(N.RPL_LUSERCHANNELS, str(counts["channels"]), "channels formed")
    s.numeric(N.RPL_LUSERME, f"I have {total} clients and {peers} servers")
    s.numeric(
        N.RPL_LOCALUSERS,
        str(total),
        str(counts["max_local"]),
        f"Current local users {total}, max {counts['max_local']}",
    )
    s.numeric(
        N.RPL_GLOBALUSERS,
        str(everyone),
        str(max(everyone, counts["max_local"])),
        f"Current global users {everyone}, max {max(everyone, counts['max_local'])}",
    )


def _other_server(s: Session, msg: Line, index: int = 0) -> bool:
    """Answer 402 when a command names a server that is not this one."""
    if len(msg.params) > index:
        target = msg.params[index]
        if (
            target.lower() != s.core.name.lower()
            and s.core.find(target) is None
            and "*" not in target
        ):
            s.numeric(N.ERR_NOSUCHSERVER, target, "No such server")
            return True
    return False


# MOTD [<target>]
@command("MOTD")
def handle_motd(s: Session, msg: Line) -> None:
    if not _other_server(s, msg):
        send_motd(s)


# LUSERS
@command("LUSERS")
def handle_lusers(s: Session, msg: Line) -> None:
    send_lusers(s)


# VERSION [<target>]
@command("VERSION")
def handle_version(s: Session, msg: Line) -> None:
    if _other_server(s, msg):
        return
    s.numeric(N.RPL_VERSION, f"ircpsyc-{__version__}", s.core.name, "PSYC places behind IRC")
    s.core.send_isupport(s)


# TIME [<server>]
@command("TIME")
def handle_time(s: Session, msg: Line) -> None:
    if _other_server(s, msg):
        return
    now = s.core.clock()
    s.numeric(
        N.RPL_TIME,
        s.core.name,
        str(int(now)),
        "0",
        time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now)),
    )


_INFO = [
    f"ircpsyc {__version__}",
    "An IRC server whose channels are PSYC places:",
    "one home server decides for each channel, and its messages",
    "reach other servers by multicast, one copy per server link.",
]


# INFO [<target>]
@command("INFO")
def handle_info(s: Session, msg: Line) -> None:
    if _other_server(s, msg):
        return
    for text in _INFO:
        s.numeric(N.RPL_INFO, text)
    s.numeric(N.RPL_ENDOFINFO, "End of INFO list")


# ADMIN [<target>]
@command("ADMIN")
def handle_admin(s: Session, msg: Line) -> None:
    if _other_server(s, msg):
        return
    server = s.core.config.server
    s.numeric(N.RPL_ADMINME, s.core.name, "Administrative info")
    s.numeric(N.RPL_ADMINLOC1, server.admin_location or server.description)
    s.numeric(N.RPL_ADMINLOC2, server.admin_name or server.network)
    s.numeric(N.RPL_ADMINEMAIL, server.admin_email or "(none configured)")


# STATS <query> [<server>]
@command("STATS")
def handle_stats(s: Session, msg: Line) -> None:
    query = msg.params[0][:1] if msg.params and msg.params[0] else ""
    if not query:
        s.numeric(N.ERR_NEEDMOREPARAMS, "STATS", "Not enough parameters")
        return
    core = s.core
    if query == "u":
        up = int(core.clock() - core.created)
        s.numeric(
            N.RPL_STATSUPTIME,
            f"Server Up {up // 86400} days "
            f"{up % 86400 // 3600}:{up % 3600 // 60:02d}:{up % 60:02d}",
        )
    elif query == "o":
        if s.client is None or not s.client.is_oper:
            s.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        else:
            for oper in core.config.opers:
                s.numeric(
                    N.RPL_STATSOLINE,
                    "O",
                    oper.hostmask,
                    "*",
                    oper.name,
                    "0",
                    oper.oper_class or "opers",
                )
    elif query == "m":
        for name, count in sorted(core.command_counts.items()):
            s.numeric(N.RPL_STATSCOMMANDS, name, str(count), "0", "0")
    elif query == "l":
        client = s.client
        if client is not None and client.is_oper:
            for session in list(core.sessions)[:500]:
                s.numeric(
                    N.RPL_STATSLINKINFO,
                    f"{session.nick or '*'}[{session.ip}]",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    str(int(core.clock() - session.connected_at)),
                )
        for numeric, params in link_stats(core, "l", False):  # server links
            s.numeric(numeric, *params)
        if core.on_stats is not None:
            for numeric, params in core.on_stats("l"):
                s.numeric(numeric, *params)
    elif query == "L":  # server links as JSON, for operators
        client = s.client
        if client is None or not client.is_oper:
            s.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
            return
        for numeric, params in link_stats(core, "L", True):
            s.numeric(numeric, *params)
    elif query in "kKdD":
        from ircpsyc.ircd.commands.xlines import send_stats

        send_stats(s, query)  # K-lines and D-lines
    elif core.on_stats is not None:
        for numeric, params in core.on_stats(query):
            s.numeric(numeric, *params)
    s.numeric(N.RPL_ENDOFSTATS, query, "End of /STATS report")


# HELP [<subject>]
@command("HELPOP")
@command("HELP")
def handle_help(s: Session, msg: Line) -> None:
    subject = msg.params[0].upper() if msg.params else "*"
    if subject == "*":
        s.numeric(N.RPL_HELPSTART, "*", "ircpsyc commands:")
        names = sorted(COMMANDS)
        for start in range(0, len(names), 10):
            s.numeric(N.RPL_HELPTXT, "*", " ".join(names[start : start + 10]))
        s.numeric(N.RPL_ENDOFHELP, "*", "End of /HELP")
    elif subject in COMMANDS:
        doc = COMMANDS[subject].handler.__doc__ or ""
        s.numeric(N.RPL_HELPSTART, subject, f"** {subject} **")
        for text in doc.strip().splitlines() or [f"{subject} is a command"]:
            s.numeric(N.RPL_HELPTXT, subject, text.strip() or " ")
        s.numeric(N.RPL_ENDOFHELP, subject, "End of /HELP")
    else:
        s.numeric(N.ERR_HELPNOTFOUND, subject, "No help available on this topic")
