"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, INVITE, KICK, MODE.

MODE of one's own nick sets user modes; +x/-x shows the cloak or the real
host (`show_host`: 396 to the person, CHGHOST to those with the cap).

Requests go to the place as PSYC packets; the place decides.  Queries (NAMES,
TOPIC, LIST, list modes) answer from the local view of the place; for a channel
homed on another server without members here, LIST and TOPIC answer from the
network's directory (ircpsyc.channels.directory) and NAMES asks the home.  A
TOPIC or MODE change, an INVITE or a KICK (of one user) in such a channel waits
for the home's answer, so it is the command's (labeled) reply
(ircpsyc.ircd.commands.changes).
"""

from __future__ import annotations

from collections.abc import Callable

from irctokens.line import Line

from ircpsyc.channels import modes as M
from ircpsyc.channels.directory import Summary
from ircpsyc.channels.place import Member, PlaceView
from ircpsyc.ircd import caps as C
from ircpsyc.ircd import cloak, snomask
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client, notify_peers
from ircpsyc.ircd.commands.changes import request_change
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.moderation import has_privilege, override_vars
from ircpsyc.ircd.names import place_uniform, valid_channel
from ircpsyc.ircd.replies import send_list_mode, send_member_names, send_names, send_topic
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.packet import Value
from ircpsyc.psyc_backend.uniform import casefold, normalize


def me(s: Session) -> Client:
    assert s.client is not None
    return s.client


# JOIN <channel>{,<channel>} [<key>{,<key>}]   |   JOIN 0
@command("JOIN", min_params=1)
def handle_join(s: Session, msg: Line) -> None:
    client = me(s)
    if msg.params[0] == "0":
        for view in list(client.channels.values()):
            client.request(V.REQUEST_LEAVE, view.uniform, {V.REASON: ""})
        return
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    limits = s.core.config.limits
    net = s.core.net
    for index, name in enumerate(msg.params[0].split(",")):
        if not name:
            continue
        foreign = net.foreign_place(name)  # #psyc://host/@name
        if not foreign and not valid_channel(name, limits.channellen):
            s.numeric(
                N.ERR_BADCHANNAME if name.startswith("#") else N.ERR_NOSUCHCHANNEL,
                name,
                "Illegal channel name" if name.startswith("#") else "No such channel",
            )
            continue
        if casefold(name) in client.channels:
            continue
        if not foreign:
            redirect = renamed_redirect(s, client, name)
            if redirect is not None:
                if not redirect or casefold(redirect) in client.channels:
                    continue
                name = redirect
        if len(client.channels) >= limits.max_channels:
            s.numeric(N.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            continue
        vars = client.enter_vars()
        if foreign and not net.network.in_network(host_of(foreign)):
            # The address (and its cloak) stay inside the network, as the roster's do.
            vars.pop(V.IP, None)
            vars.pop(V.CLOAK, None)
            vars.pop(V.HOST_REAL, None)
        vars[V.NICK_PLACE] = name
        vars.update(override_vars(s))
        if index < len(keys) and keys[index]:
            vars[V.KEY] = keys[index]
        target = foreign or place_uniform(s, name)
        if not net.can_reach(target):
            s.numeric(N.ERR_UNAVAILRESOURCE, name, "Channel unavailable: its server is unreachable")
            continue
        client.request(V.REQUEST_ENTER, target, vars)


def renamed_redirect(s: Session, client: Client, name: str) -> str | None:
    """JOIN of a name renamed lately: None to join `name` as asked; "" when the
    session got FAIL JOIN CHANNEL_RENAMED (it has the capability); else the new name
    to join instead (470 ERR_LINKCHANNEL was sent, as the specification allows).

    Someone in the renamed channel, or a name that is a live channel again, joins
    as asked: who took part in the rename means the old name (irctest does this)."""
    new = s.core.net.directory.renamed_to(name)
    if not new or casefold(new) in client.channels or s.core.places.get(name) is not None:
        return None
    if s.core.net.directory.get(name) is not None:
        return None
    if C.CHANNEL_RENAME in s.caps:
        s.fail("JOIN", "CHANNEL_RENAMED", name, new, "The channel has been renamed")
        return ""
    s.numeric(N.ERR_LINKCHANNEL, name, new, "The channel has been renamed")
    return new


# PART <channel>{,<channel>} [<reason>]
@command("PART", min_params=1)
def handle_part(s: Session, msg: Line) -> None:
    client = me(s)
    reason = msg.params[1] if len(msg.params) > 1 else ""
    for name in msg.params[0].split(","):
        view = client.channels.get(casefold(name))
        if view is None:
            if s.core.places.get(name) is not None:
                s.numeric(N.ERR_NOTONCHANNEL, name, "You're not on that channel")
            else:
                s.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
            continue
        client.request(V.REQUEST_LEAVE, view.uniform, {V.REASON: reason[:390]})


# TOPIC <channel> [<topic>]
@command("TOPIC", min_params=1)
def handle_topic(s: Session, msg: Line) -> None:
    client = me(s)
    name = msg.params[0]
    view = _view_or_summary(s, name)
    if isinstance(view, Summary):  # homed elsewhere, nobody here: the directory knows
        _remote_topic(s, client, view, msg)
        return
    if view is None:
        s.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    member = view.folded in client.channels
    if len(msg.params) < 2:
        if view.secret and not member:
            s.numeric(N.ERR_NOTONCHANNEL, view.name, "You're not on that channel")
            return
        send_topic(s, view)
        return
    extra = override_vars(s)
    if not member and not extra:
        s.numeric(N.ERR_NOTONCHANNEL, view.name, "You're not on that channel")
        return
    vars = {V.TOPIC: msg.params[1], V.PREFIX: client.prefix, **extra}
    _change(s, V.REQUEST_SET_TOPIC, view.uniform, view.name, vars)


def _remote_topic(s: Session, client: Client, summary: Summary, msg: Line) -> None:
    if len(msg.params) < 2:
        if summary.secret:
            s.numeric(N.ERR_NOTONCHANNEL, summary.name, "You're not on that channel")
        elif not summary.topic:
            s.numeric(N.RPL_NOTOPIC, summary.name, "No topic is set")
        else:
            s.numeric(N.RPL_TOPIC, summary.name, summary.topic)
            s.numeric(
                N.RPL_TOPICWHOTIME, summary.name, summary.topic_setter, str(summary.topic_time)
            )
        return
    extra = override_vars(s)
    if not extra:
        s.numeric(N.ERR_NOTONCHANNEL, summary.name, "You're not on that channel")
        return
    vars = {V.TOPIC: msg.params[1], V.PREFIX: client.prefix, **extra}
    _change(s, V.REQUEST_SET_TOPIC, place_uniform(s, summary.name), summary.name, vars)


def _change(s: Session, method: str, uniform: str, name: str, vars: dict[str, Value]) -> None:
    """Ask the place for a TOPIC or MODE change: a home on another server answers
    later, and the command waits for all of its answer, which the home ends with an
    echo (its reply, labeled; a FAIL when it does not come: ircpsyc.ircd.place_answers)."""
    command = "TOPIC" if method == V.REQUEST_SET_TOPIC else "MODE"
    request_change(s, method, uniform, name, vars, (command, name), echoed=True)


# NAMES [<channel>{,<channel>}]
NAMES_REMOTE_MAX = 8  # homes one NAMES line may ask (the others' channels are left out)

MemberRows = list[tuple[str, str, str, str]]


@command("NAMES")
def handle_names(s: Session, msg: Line) -> None:
    """Each channel asked for gets its RPL_NAMREPLY lines, in the asked order, and the
    list one RPL_ENDOFNAMES naming it all (RFC 2812 and modern.ircdocs.horse, as
    irctest checks; one channel: its own); a public channel without members here is
    listed by its home, and the whole answer waits for those homes."""
    client = me(s)
    if not msg.params:
        s.numeric(N.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    first: dict[str, str] = {}  # each channel once, as and where it was first named
    for name in msg.params[0].split(","):
        if name:
            first.setdefault(casefold(name), name)
    names = list(first.values())
    if not names:
        s.numeric(N.RPL_ENDOFNAMES, msg.params[0] or "*", "End of /NAMES list")
        return
    # What each name shows: a view here, a summary to ask its home about, or nothing.
    shown: list[tuple[str, PlaceView | Summary | None]] = []
    remote: list[Summary] = []
    for name in names:
        found = _view_or_summary(s, name)
        if isinstance(found, Summary):
            if found.secret or len(remote) >= NAMES_REMOTE_MAX:
                found = None
            else:
                remote.append(found)
        elif found is not None and found.secret and found.folded not in client.channels:
            found = None
        shown.append((name, found))
    rows: dict[str, MemberRows | None] = {}
    several = len(shown) > 1

    def reply() -> None:
        for name, found in shown:
            if found is None:
                if not several:
                    s.numeric(N.RPL_ENDOFNAMES, name, "End of /NAMES list")
            elif isinstance(found, Summary):
                members = []
                for nick, modes, user, host in rows.get(found.folded) or []:
                    member = Member("", client, nick, user, host, "", "", 0.0)  # only shown
                    member.modes = modes
                    members.append(member)
                send_member_names(s, found.name, found.flags, members, False, not several)
            else:
                send_names(s, found, not several)
        if several:  # one end for the whole list (RFC 2812, modern.ircdocs.horse)
            s.numeric(N.RPL_ENDOFNAMES, msg.params[0], "End of /NAMES list")

    if not remote:
        reply()
        return
    # Homed elsewhere, nobody here: ask the homes (RFC 2812: visible members only);
    # an unreachable home leaves its list empty.
    answer = s.later()
    directory = s.core.net.directory
    waiting = len(remote)

    def asked(summary: Summary) -> Callable[[MemberRows | None], None]:
        def done(found: MemberRows | None) -> None:
            nonlocal waiting
            if summary.folded in rows:
                return  # answered once already
            rows[summary.folded] = found
            waiting -= 1
            if not waiting:
                answer(reply)

        return done

    for summary in remote:
        done = asked(summary)
        if not directory.members(summary.name, done):
            done(None)


# LIST [<channel>{,<channel>}|<mask>] [<elist conditions>]
@command("LIST")
def handle_list(s: Session, msg: Line) -> None:
    client = me(s)
    names: list[str] = []
    minimum, maximum = -1, 1 << 30
    # ELIST C and T (modern-irc #171): C<n created less than n minutes ago, C>n more.
    created_before = topic_before = float(1 << 62)
    created_after = topic_after = -1.0
    now = s.core.clock()
    masks: list[str] = []
    negated: list[str] = []
    for param in msg.params:
        for item in param.split(","):
            if item.startswith(">") and item[1:].isdigit():
                minimum = int(item[1:])
            elif item.startswith("<") and item[1:].isdigit():
                maximum = int(item[1:])
            elif item[:2] in ("C>", "C<", "T>", "T<") and item[2:].isdigit():
                stamp = now - int(item[2:]) * 60
                if item.startswith("C<"):
                    created_after = max(created_after, stamp)
                elif item.startswith("C>"):
                    created_before = min(created_before, stamp)
                elif item.startswith("T<"):
                    topic_after = max(topic_after, stamp)
                else:
                    topic_before = min(topic_before, stamp)
            elif item.startswith("!"):
                negated.append(item[1:])
            elif "*" in item or "?" in item:
                masks.append(item)
            elif item:
                names.append(item)
    s.numeric(N.RPL_LISTSTART, "Channel", "Users  Name")
    auspex = has_privilege(s.core, client, "auspex")
    directory = s.core.net.directory
    views: list[PlaceView | Summary]
    if names:
        views = [v for v in (_view_or_summary(s, n) for n in names) if v is not None]
    else:
        views = list(s.core.places.views())  # with the replicas of channels homed elsewhere
        seen = {v.folded for v in views}  # and the rest of the network's channels
        views.extend(d for d in directory.summaries() if d.folded not in seen)
    for view in views:
        count = view.users if isinstance(view, Summary) else len(view.members)
        if not minimum < count < maximum:
            continue
        if not created_after < view.created < created_before:
            continue
        if not topic_after < view.topic_time < topic_before:
            continue
        if masks and not any(M.mask_match(mask, view.name) for mask in masks):
            continue
        if any(M.mask_match(mask, view.name) for mask in negated):
            continue
        if view.secret and view.folded not in client.channels and not auspex:
            continue
        modes = view.modes.split()[0] if isinstance(view, Summary) else view.mode_string(False)[0]
        s.numeric(N.RPL_LIST, view.name, str(count), f"[{modes}] {view.topic}")
    s.numeric(N.RPL_LISTEND, "End of /LIST")


def _view_or_summary(s: Session, name: str) -> PlaceView | Summary | None:
    """A channel as this server sees it, or its directory entry when it has no member
    here (homed on another server)."""
    view = s.core.places.get(name)
    if view is None:
        return s.core.net.directory.get(name)
    return view


# INVITE <nickname> <channel>
@command("INVITE")
def handle_invite(s: Session, msg: Line) -> None:
    client = me(s)
    if not msg.params:
        mine = normalize(client.uniform)
        for joined in s.core.places.invitations(mine):
            s.numeric(N.RPL_USERINVITELIST, joined.name)
        s.numeric(N.RPL_ENDOFUSERINVITELIST, "End of /INVITE list")
        return
    if len(msg.params) < 2:
        s.numeric(N.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    nick, name = msg.params[0], msg.params[1]
    target = s.core.find(nick)
    if target is None:
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    view = s.core.places.get(name)
    if view is None:
        s.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    extra = override_vars(s)
    if view.folded not in client.channels and not extra:
        s.numeric(N.ERR_NOTONCHANNEL, view.name, "You're not on that channel")
        return
    vars: dict[str, Value] = {
        V.NICK_TARGET: target.nick,
        V.UNIFORM_TARGET: target.uniform,
        V.PREFIX: client.prefix,
        **extra,
    }
    away = target.away

    def after() -> None:  # 301 after the home's answer (341 or its refusal)
        if away:
            s.numeric(N.RPL_AWAY, target.nick, away)

    # A home elsewhere answers later: 341 (its echo) or the refusal is the reply.
    request_change(
        s,
        V.REQUEST_INVITE,
        view.uniform,
        view.name,
        vars,
        ("INVITE", view.name),
        after=after,
        overridable=True,
    )


# KICK <channel>{,<channel>} <user>{,<user>} [<comment>]
@command("KICK", min_params=2)
def handle_kick(s: Session, msg: Line) -> None:
    client = me(s)
    channels = [c for c in msg.params[0].split(",") if c]
    nicks = [n for n in msg.params[1].split(",") if n]
    reason = msg.params[2] if len(msg.params) > 2 else ""
    if len(channels) == 1:
        pairs = [(channels[0], nick) for nick in nicks]
    elif len(channels) == len(nicks):  # RFC 2812: one channel per user
        pairs = list(zip(channels, nicks, strict=True))
    else:
        s.numeric(N.ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
        return
    extra = override_vars(s)
    pairs = pairs[: s.core.config.limits.max_targets]
    for name, nick in pairs:
        view = s.core.places.get(name)
        if view is None:
            s.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
            continue
        if view.folded not in client.channels and not extra:
            s.numeric(N.ERR_NOTONCHANNEL, view.name, "You're not on that channel")
            continue
        vars = {V.NICK_TARGET: nick, V.REASON: reason, V.PREFIX: client.prefix, **extra}
        # A home elsewhere answers later: its KICK (cast to the members: an operator
        # outside gets none) or its refusal is the reply.  One labeled reply cannot
        # wait for several homes: each answers those when it can.
        if len(pairs) == 1 and view.folded in client.channels:
            fail = ("KICK", view.name)
            request_change(s, V.REQUEST_KICK, view.uniform, view.name, vars, fail, overridable=True)
        else:
            client.request(V.REQUEST_KICK, view.uniform, vars)


# MODE <target> [<modestring> [<mode arguments>...]]
@command("MODE", min_params=1)
def handle_mode(s: Session, msg: Line) -> None:
    target = msg.params[0]
    if target.startswith("#"):
        _channel_mode(s, msg)
    else:
        _user_mode(s, msg)


def _channel_mode(s: Session, msg: Line) -> None:
    client = me(s)
    name = msg.params[0]
    view = _view_or_summary(s, name)
    if isinstance(view, Summary):  # homed elsewhere, nobody here: the directory knows
        _remote_mode(s, client, view, msg)
        return
    if view is None:
        s.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if len(msg.params) == 1:
        modes, params = view.mode_string(view.folded in client.channels)
        s.numeric(N.RPL_CHANNELMODEIS, view.name, modes, *params)
        s.numeric(N.RPL_CREATIONTIME, view.name, str(view.created))
        return
    modestring = msg.params[1]
    args = msg.params[2:]
    parsed = M.parse_channel_modes(modestring, list(args))
    # Pure list queries (MODE #c b / +b) are answered here from the view.
    if (
        parsed.changes
        and all(c.mode in M.LIST_MODES and c.param is None for c in parsed.changes)
        and not parsed.unknown
    ):
        for change in parsed.changes:
            send_list_mode(s, view, change.mode)
        return
    vars: dict[str, str | list[str]] = {
        V.MODE: modestring,
        V.LIST_PARAMETERS: list(args),
        V.PREFIX: client.prefix,
        **override_vars(s),
    }
    _change(s, V.REQUEST_SET_MODE, view.uniform, view.name, vars)


def _remote_mode(s: Session, client: Client, summary: Summary, msg: Line) -> None:
    """MODE of a channel without members here: its modes as the directory has them
    (the key hidden, as from outside), like TOPIC and LIST; changes and list queries
    are for members, and for operators with an override, which the home decides."""
    if len(msg.params) == 1:
        modes, *params = summary.modes.split(" ")
        s.numeric(N.RPL_CHANNELMODEIS, summary.name, modes or "+", *params)
        s.numeric(N.RPL_CREATIONTIME, summary.name, str(summary.created))
        return
    extra = override_vars(s)
    if not extra:
        s.numeric(N.ERR_NOTONCHANNEL, summary.name, "You're not on that channel")
        return
    vars: dict[str, str | list[str]] = {
        V.MODE: msg.params[1],
        V.LIST_PARAMETERS: list(msg.params[2:]),
        V.PREFIX: client.prefix,
        **extra,
    }
    _change(s, V.REQUEST_SET_MODE, place_uniform(s, summary.name), summary.name, vars)


def _user_mode(s: Session, msg: Line) -> None:
    client = me(s)
    nick = msg.params[0]
    if casefold(nick) != casefold(client.nick):
        if s.core.find(nick) is None:
            s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        else:
            s.numeric(N.ERR_USERSDONTMATCH, "Can't change mode for other users")
        return
    if len(msg.params) == 1:
        s.numeric(N.RPL_UMODEIS, "+" + "".join(sorted(client.modes)))
        return
    changes, unknown = M.parse_user_modes(msg.params[1])
    applied: list[tuple[bool, str]] = []
    snomasks = s.core.moderation.snomasks
    for adding, mode in changes:
        if mode == "o" and adding:
            continue  # only OPER grants +o
        if mode == "s":  # server notices: +s [+-letters], opers only
            before = snomasks.get(client)
            spec = msg.params[2] if adding and len(msg.params) > 2 else snomask.DEFAULT
            snomasks.set(client, snomask.apply_spec(before, spec) if adding else "")
            after = snomasks.get(client)
            if bool(before) != bool(after):
                applied.append((bool(after), "s"))
            if after != before and after:
                snomasks.tell(client)
            elif adding and not client.is_oper:
                s.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
            continue
        if mode == cloak.MODE:
            # Not offered when off (nor in 004); but -x still works for a person
            # cloaked before a REHASH turned cloaking off.
            if not s.core.cloaks.enabled and (adding or mode not in client.modes):
                unknown.append(mode)
            elif (not adding or client.cloak) and client.set_mode(mode, adding):
                applied.append((adding, mode))
            continue
        if mode == "o" and "s" in client.modes:
            snomasks.set(client, "")
            applied.append((False, "s"))
        if client.set_mode(mode, adding):
            applied.append((adding, mode))
    if unknown:
        s.numeric(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        out = ""
        sign = ""
        for adding, mode in applied:
            want = "+" if adding else "-"
            if want != sign:
                out += want
                sign = want
            out += mode
        s.send(line(client.prefix, "MODE", client.nick, out))
    if any(mode == cloak.MODE for _, mode in applied):
        show_host(client, client.cloak if cloak.MODE in client.modes else client.real_host)


def show_host(client: Client, host: str) -> None:
    """Show `host` for the person from now on (+x: its cloak; -x: its real host).

    The person gets 396 RPL_VISIBLEHOST (and CHGHOST with the cap), local
    members sharing a channel with the `chghost` cap get CHGHOST from the old
    prefix; the places (and the local replicas, which the home does not tell)
    learn the new host for JOIN lines and NAMES, and the roster carries it to
    the other servers, whose members get their CHGHOST from it.  Only -x, the
    person's own choice, shows the real host to others.
    """
    if host == client.host:
        return
    notify_peers(client, "CHGHOST", client.user, host, cap=C.CHGHOST)  # from the old prefix
    data = line(client.prefix, "CHGHOST", client.user, host)
    client.host = host
    client.directory.changed(client)  # the roster tells the other servers
    for session in client.sessions:
        if C.CHGHOST in session.caps:
            session.send(data)
        session.numeric(N.RPL_VISIBLEHOST, host, "is now your displayed host")
    for view in list(client.channels.values()):
        client.request(V.NOTICE_PERSON_UPDATE, view.uniform, {V.HOST: host})
        member = view.member(client.uniform)
        if member is not None:
            member.host = host
