"""User queries: WHO (and WHOX), WHOIS, WHOWAS, ISON, USERHOST, and AWAY.

Persons of other servers come from the replicated roster (ircpsyc.persons.roster);
WHO of a channel homed on another server with no member here asks its home
(`Directory.who`) and answers later (`Session.later`).  Addresses (WHOIS 378,
WHOX `i`) are shown to the person itself and to operators with auspex only;
everything else shows the displayed host, the cloak of a +x person.
"""

from __future__ import annotations

from collections.abc import Iterable

from irctokens.line import Line

from ircpsyc.channels import modes as M
from ircpsyc.channels.place import Member
from ircpsyc.ircd import caps as C
from ircpsyc.ircd import metadata as meta
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client, notify_peers
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.linkinfo import server_description
from ircpsyc.ircd.moderation import has_privilege
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person
from ircpsyc.persons.roster import RemotePerson
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.uniform import casefold, normalize


def _auspex(viewer: Client | None) -> bool:
    """Opers with the auspex privilege see real hosts, IPs and what is hidden."""
    return viewer is not None and has_privilege(viewer.core, viewer, "auspex")


def _shares_channel(a: Person, b: Person) -> bool:
    return any(folded in b.channels for folded in a.channels)


def _visible(viewer: Client, other: Person) -> bool:
    return (
        "i" not in other.modes
        or viewer is other
        or _auspex(viewer)
        or _shares_channel(viewer, other)
    )


def _flags(s: Session, client: Person, member: Member | None) -> str:
    flags = "G" if client.away else "H"
    if client.is_oper:
        flags += "*"
    if "B" in client.modes:
        flags += "B"
    if member is not None:
        flags += member.prefixes(C.MULTI_PREFIX in s.caps)
    return flags


def _server_of(s: Session, client: Person) -> str:
    """The server a person is on (a `RemotePerson` has one; local persons are here)."""
    server: str = getattr(client, "server", s.core.name)
    return server


def _hops(s: Session, server: str) -> str:
    """The hop count WHO shows: 0 here, the links crossed to another server."""
    if server == s.core.name:
        return "0"
    return str(max(0, s.core.net.network.topology.hops(server)))


def _everyone(s: Session) -> Iterable[Person]:
    """Local persons, then those on other servers of the network."""
    return [*s.core.clients.values(), *s.core.net.persons()]


def _who_reply(
    s: Session, client: Person, channel: str, member: Member | None, whox: str | None, token: str
) -> None:
    flags = _flags(s, client, member)
    if whox is None:
        s.numeric(
            N.RPL_WHOREPLY,
            channel,
            client.user,
            client.host,
            _server_of(s, client),
            client.nick,
            flags,
            f"{_hops(s, _server_of(s, client))} {client.realname}",
        )
        return
    fields: list[str] = []
    for field in "tcuihsnfdlaor":
        if field not in whox:
            continue
        value = {
            "t": token or "0",
            "c": channel,
            "u": client.user,
            "i": client.ip if _auspex(s.client) else "255.255.255.255",
            "h": client.host,
            "s": _server_of(s, client),
            "n": client.nick,
            "f": flags,
            "d": _hops(s, _server_of(s, client)),
            "l": str(int(s.core.clock() - client.last_active)),
            "a": client.account or "0",
            "o": "n/a",
            "r": client.realname,
        }[field]
        fields.append(value)
    s.numeric(N.RPL_WHOSPCRPL, *fields)


# WHO <mask> [<o>|%<fields>[,<token>]]
@command("WHO")
def handle_who(s: Session, msg: Line) -> None:
    viewer = s.client
    assert viewer is not None
    mask = msg.params[0] if msg.params else "*"
    options = msg.params[1] if len(msg.params) > 1 else ""
    whox: str | None = None
    token = ""
    if "%" in options:
        opts, _, spec = options.partition("%")
        whox, _, token = spec.partition(",")
        options = opts
    opers_only = "o" in options
    if mask.startswith("#") and s.core.places.get(mask) is None:
        summary = s.core.net.directory.get(mask)
        if summary is not None and (not summary.secret or _auspex(viewer)):
            _remote_who(s, mask, summary.name, opers_only, whox, token)  # ask its home
            return
    if mask.startswith("#"):
        view = s.core.places.get(mask)
        if view is not None and (
            not view.secret or view.folded in viewer.channels or _auspex(viewer)
        ):
            for member in list(view.members.values()):
                client = s.core.find(member.nick)
                if client is None or (opers_only and not client.is_oper):
                    continue
                if (
                    "i" in client.modes
                    and view.folded not in viewer.channels
                    and not _auspex(viewer)
                ):
                    continue
                _who_reply(s, client, view.name, member, whox, token)
    else:
        exact = s.core.find(mask)
        candidates: Iterable[Person] = (
            [exact]
            if exact is not None
            else (
                c
                for c in _everyone(s)
                if M.mask_match(mask, c.nick)
                or M.mask_match(mask, c.host)
                or M.mask_match(mask, c.user)
                or M.mask_match(mask, c.realname)
                or M.mask_match(mask, c.prefix)
            )
            if mask not in ("*", "0")
            else _everyone(s)
        )
        for client in list(candidates):
            if opers_only and not client.is_oper:
                continue
            if exact is None and not _visible(viewer, client):
                continue
            channel, shared = _first_shared(viewer, client)
            _who_reply(s, client, channel, shared, whox, token)
    s.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")


def _remote_who(
    s: Session, mask: str, channel: str, opers_only: bool, whox: str | None, token: str
) -> None:
    """WHO of a channel homed on another server with no member here: its home lists
    the members (as for NAMES), the roster adds what it knows of each (away, user
    modes); +i members are left out (the viewer is not in the channel) unless the
    viewer has auspex.  An unreachable home, or no answer, ends the list empty."""
    directory = s.core.net.directory
    viewer = s.client
    assert viewer is not None
    auspex = _auspex(viewer)
    answer = s.later()

    def done(rows: list[dict[str, str]] | None) -> None:
        def reply() -> None:
            for row in rows or []:
                uniform = row["uniform"]
                client = s.core.find(row["nick"])
                if client is None or (uniform and normalize(client.uniform) != normalize(uniform)):
                    fields = {k: v for k, v in row.items() if k != "modes"}  # ranks, not umodes
                    client = RemotePerson(s.core.persons, host_of(uniform) or "*", uniform, fields)
                if opers_only and not client.is_oper:
                    continue
                if "i" in client.modes and not auspex:
                    continue
                member = Member(uniform, client, client.nick, client.user, client.host, "", "", 0.0)
                member.modes = row["modes"]
                _who_reply(s, client, channel, member, whox, token)
            s.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")

        answer(reply)

    if not directory.who(channel, done, secret=auspex):
        done(None)


def _first_shared(viewer: Client, client: Person) -> tuple[str, Member | None]:
    for folded, view in client.channels.items():
        if not view.secret or folded in viewer.channels:
            return view.name, view.member_by_nick(client.nick)
    return "*", None


def _whois_channels(s: Session, viewer: Client, client: Person) -> list[str]:
    out: list[str] = []
    multi = C.MULTI_PREFIX in s.caps
    for folded, view in client.channels.items():
        if (
            view.secret
            and folded not in viewer.channels
            and viewer is not client
            and not _auspex(viewer)
        ):
            continue
        member = view.member_by_nick(client.nick)
        out.append((member.prefixes(multi) if member else "") + view.name)
    return out


# WHOIS [<server>] <nick>
@command("WHOIS", min_params=1)
def handle_whois(s: Session, msg: Line) -> None:
    viewer = s.client
    assert viewer is not None
    nicks = msg.params[-1]
    if not nicks:
        s.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = nicks.split(",")[0]
    client = s.core.find(nick)
    if client is None:
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        s.numeric(N.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    s.numeric(N.RPL_WHOISUSER, client.nick, client.user, client.host, "*", client.realname)
    channels = _whois_channels(s, viewer, client)
    for start in range(0, len(channels), 20):
        s.numeric(N.RPL_WHOISCHANNELS, client.nick, " ".join(channels[start : start + 20]))
    server = _server_of(s, client)
    s.numeric(N.RPL_WHOISSERVER, client.nick, server, server_description(s.core, server))
    if client.away:
        s.numeric(N.RPL_AWAY, client.nick, client.away)
    if client.is_oper:
        s.numeric(N.RPL_WHOISOPERATOR, client.nick, "is an IRC operator")
    if "B" in client.modes:
        s.numeric("335", client.nick, "is a bot")
    if client.account:
        s.numeric(N.RPL_WHOISACCOUNT, client.nick, client.account, "is logged in as")
    if client.metadata and meta.enabled(s.caps):
        for key, value in client.metadata.items():
            s.numeric(N.RPL_WHOISKEYVALUE, client.nick, key, meta.VISIBLE, value)
    if any(session.tls for session in client.sessions):
        s.numeric(N.RPL_WHOISSECURE, client.nick, "is using a secure connection")
    if viewer is client or _auspex(viewer):
        # The real host and address, never the cloak (+x): only here, and only to these.
        where = f"is connecting from *@{client.real_host} {client.ip}"
        s.numeric(N.RPL_WHOISHOST, client.nick, where)
        s.numeric(N.RPL_WHOISMODES, client.nick, "is using modes +" + "".join(sorted(client.modes)))
    idle = int(s.core.clock() - client.last_active)
    s.numeric(
        N.RPL_WHOISIDLE,
        client.nick,
        str(idle),
        str(int(client.signon)),
        "seconds idle, signon time",
    )
    s.numeric(N.RPL_ENDOFWHOIS, client.nick, "End of /WHOIS list")


# WHOWAS <nick> [<count>]
@command("WHOWAS", min_params=1)
def handle_whowas(s: Session, msg: Line) -> None:
    nick = msg.params[0]
    if not nick:
        s.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    count = 0
    if len(msg.params) > 1 and msg.params[1].lstrip("-").isdecimal():
        count = max(0, int(msg.params[1]))
    folded = casefold(nick)
    found = 0
    for entry in s.core.whowas:
        if casefold(entry.nick) != folded:
            continue
        s.numeric(N.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname)
        s.numeric(
            N.RPL_WHOISSERVER, entry.nick, entry.server, server_description(s.core, entry.server)
        )
        found += 1
        if count and found >= count:
            break
    if not found:
        s.numeric(N.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    s.numeric(N.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


# ISON <nickname>{ <nickname>}
@command("ISON", min_params=1)
def handle_ison(s: Session, msg: Line) -> None:
    online = []
    for param in msg.params:
        for nick in param.split():
            client = s.core.find(nick)
            if client is not None:
                online.append(client.nick)
    s.numeric(N.RPL_ISON, " ".join(online))


# USERHOST <nickname>{ <nickname>}
@command("USERHOST", min_params=1)
def handle_userhost(s: Session, msg: Line) -> None:
    replies = []
    for nick in msg.params[:5]:
        client = s.core.find(nick)
        if client is None:
            continue
        oper = "*" if client.is_oper else ""
        away = "-" if client.away else "+"
        replies.append(f"{client.nick}{oper}={away}{client.user}@{client.host}")
    s.numeric(N.RPL_USERHOST, " ".join(replies))


# AWAY [<text>]
@command("AWAY", pre_registration=True)
def handle_away(s: Session, msg: Line) -> None:
    """AWAY is a session's: the person is away while every session is (draft/pre-away;
    the newest message shows), as Ergo aggregates its sessions'."""
    client = s.client
    text = msg.params[0] if msg.params else ""
    if client is None and C.PRE_AWAY not in s.caps:  # draft/pre-away: kept for registration
        s.numeric(N.ERR_NOTREGISTERED, "You have not registered")
        return
    s.away = text[: s.core.config.limits.awaylen]
    s.away_at = s.core.clock()
    if client is None:
        return
    if s.away:
        s.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
    else:
        s.numeric(N.RPL_UNAWAY, "You are no longer marked as being away")
    client.update_away()


# SETNAME <realname>
@command("SETNAME", min_params=1)
def handle_setname(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    realname = msg.params[0]
    if not realname or len(realname.encode()) > REALNAME_MAX:
        s.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    client.realname = realname
    client.directory.changed(client)  # the roster tells the other servers
    for view in list(client.channels.values()):
        client.request(V.NOTICE_PERSON_UPDATE, view.uniform, {V.REALNAME: realname})
    data = line(client.prefix, "SETNAME", realname)
    for session in client.sessions:
        if C.SETNAME in session.caps:
            session.send(data)
    notify_peers(client, "SETNAME", realname, cap=C.SETNAME)


REALNAME_MAX = 250
