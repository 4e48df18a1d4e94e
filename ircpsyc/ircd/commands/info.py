"""Server queries: MOTD, LUSERS, VERSION, TIME, INFO, ADMIN, STATS, HELP.

VERSION, MOTD, TIME, ADMIN and INFO take a target (RFC 2812 §3.4): a server
name, a mask matching a server (`*.example`; this server first, then the
others in name order), or a nick, meaning that person's server.  Another
server of the network is asked through `$info` (ircpsyc.ircd.serverinfo) and
its answer is shown with that server as the source of the numerics, exactly as
it would answer itself; an unknown, unreachable or silent server gets 402.
LUSERS counts the whole network (the rosters are replicated): every server
would give the same numbers, so its mask and target are not looked at.

LINKS and MAP, and the link lines of STATS, are in `links` (the server network).
"""

from __future__ import annotations

import time

from irctokens.line import Line

from ircpsyc.channels.modes import mask_match
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import COMMANDS, IRCServer, command
from ircpsyc.ircd.linkinfo import link_stats
from ircpsyc.ircd.moderation import send_stats
from ircpsyc.ircd.replies import numeric_from, send_lusers, show_motd
from ircpsyc.ircd.serverinfo import info_vars
from ircpsyc.ircd.session import Session
from ircpsyc.persons.roster import RemotePerson
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, seconds

MAX_LINES = 1000  # MOTD or INFO lines shown from another server
MAX_TOKENS = 100  # ISUPPORT tokens shown from another server
MAX_STATS_SESSIONS = 500  # connections STATS l lists


# -- the server a target means, and what a server says about itself


def target_server(core: IRCServer, target: str) -> str:
    """The server (lower case) that a query's target names: a server of the network
    by name, the first one a mask matches (this one first), or a nick's server;
    "" for none.  A configured server is named even while unreachable (asking it
    then fails with 402 like an unknown one)."""
    me = core.name.lower()
    name = target.lower()
    servers = [me]
    network = core.net.network
    if network.in_network(name):
        return name
    servers += sorted(s for s in network.reachable if s != me and network.in_network(s))
    if name in servers:
        return name
    if "*" in name or "?" in name:
        return next((s for s in servers if mask_match(name, s)), "")
    found = core.find(target)
    if found is None:
        return ""
    if isinstance(found, RemotePerson):  # foreign persons' servers are not asked
        return found.server if network.in_network(found.server) else ""
    return me


def _word(text: str) -> str:
    """A middle parameter from another server: one word, never empty or ':'-led."""
    return text.replace(" ", "_").lstrip(":") or "*"


def show(s: Session, server: str, command: str, answer: Packet) -> None:
    """The numerics of `command` from `server`'s answer (or this server's own)."""
    if command == "VERSION":
        version = _word(answer.get(V.VERSION))
        numeric_from(s, server, N.RPL_VERSION, version, server, answer.get(V.DESCRIPTION))
        tokens = [t for t in answer.get_list(V.LIST_ISUPPORT) if " " not in t and t[:1] not in ":"]
        tokens = tokens[:MAX_TOKENS]
        for start in range(0, len(tokens), 12):
            row = tokens[start : start + 12]
            numeric_from(s, server, N.RPL_ISUPPORT, *row, "are supported by this server")
    elif command == "MOTD":
        lines = answer.get_list(V.LIST_MOTD) if answer.get(V.FLAG_MOTD) == "1" else []
        show_motd(s, server, lines[:MAX_LINES])
    elif command == "TIME":
        now = int(seconds(answer.get(V.TIME), 0.0))
        text = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now))
        numeric_from(s, server, N.RPL_TIME, server, str(now), "0", text)
    elif command == "ADMIN":
        numeric_from(s, server, N.RPL_ADMINME, server, "Administrative info")
        numeric_from(s, server, N.RPL_ADMINLOC1, answer.get(V.ADMIN_LOCATION))
        numeric_from(s, server, N.RPL_ADMINLOC2, answer.get(V.ADMIN_NAME))
        numeric_from(s, server, N.RPL_ADMINEMAIL, answer.get(V.ADMIN_EMAIL))
    elif command == "INFO":
        for text in answer.get_list(V.LIST_INFO)[:MAX_LINES]:
            numeric_from(s, server, N.RPL_INFO, text)
        numeric_from(s, server, N.RPL_ENDOFINFO, "End of INFO list")


def _query(s: Session, msg: Line, command: str) -> None:
    """Answer `command` for the server its target names: here at once, or when the
    other server has answered (this client's input waits meanwhile)."""
    core = s.core
    target = msg.params[0] if msg.params else ""
    server = target_server(core, target) if target else core.name.lower()
    if server == core.name.lower():
        show(s, core.name, command, Packet(V.STATUS_SERVER_INFO, {}, info_vars(core, command)))
        return
    info = core.net.info
    if not server or not info.requests.can_ask(server):
        s.numeric(N.ERR_NOSUCHSERVER, target, "No such server")
        return
    answer = s.later()

    def done(packet: Packet | None, why: str) -> None:
        def reply() -> None:
            if packet is None:
                s.numeric(N.ERR_NOSUCHSERVER, target, why)
            else:
                show(s, server, command, packet)

        answer(reply)

    if not info.ask(server, command, done):
        done(None, "No such server")


# MOTD [<target>]
@command("MOTD")
def handle_motd(s: Session, msg: Line) -> None:
    _query(s, msg, "MOTD")


# LUSERS [<mask> [<target>]]: the network's counts, whatever the mask (see above)
@command("LUSERS")
def handle_lusers(s: Session, msg: Line) -> None:
    send_lusers(s)


# VERSION [<target>]
@command("VERSION")
def handle_version(s: Session, msg: Line) -> None:
    _query(s, msg, "VERSION")


# TIME [<target>]
@command("TIME")
def handle_time(s: Session, msg: Line) -> None:
    _query(s, msg, "TIME")


# INFO [<target>]
@command("INFO")
def handle_info(s: Session, msg: Line) -> None:
    _query(s, msg, "INFO")


# ADMIN [<target>]
@command("ADMIN")
def handle_admin(s: Session, msg: Line) -> None:
    _query(s, msg, "ADMIN")


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
            # Now on the connections' clock: when this STATS line came in.
            now = s.last_recv
            for session in list(core.sessions)[:MAX_STATS_SESSIONS]:
                # RFC 2812 211: sendq (bytes), messages and kilobytes sent, the same
                # received, and seconds open.
                traffic = session.traffic()
                s.numeric(
                    N.RPL_STATSLINKINFO,
                    f"{session.nick or '*'}[{session.ip}]",
                    str(traffic.sendq),
                    str(traffic.lines_out),
                    str(traffic.bytes_out // 1024),
                    str(traffic.lines_in),
                    str(traffic.bytes_in // 1024),
                    str(max(0, int(now - session.connected_at))),
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
        send_stats(s, query)  # K-lines and D-lines
    elif core.on_stats is not None:
        for numeric, params in core.on_stats(query):
            s.numeric(numeric, *params)
    s.numeric(N.RPL_ENDOFSTATS, query, "End of /STATS report")


# HELP [<subject>]
@command("HELP", "HELPOP")
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
