"""PRIVMSG, NOTICE and TAGMSG to channels (places) and nicks (persons)."""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.channels.modes import STATUSMSG
from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client, render_message
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import format_tags
from ircpsyc.ircd.multiline import Multiline
from ircpsyc.ircd.names import place_uniform
from ircpsyc.ircd.session import MAX_TAGS_CLIENT, Session
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, is_service, person

STATUS_PREFIXES = STATUSMSG  # ~&@%+


_STATUS_OR_CHANNEL = "#" + STATUS_PREFIXES


def _client_tags(s: Session, msg: Line) -> str | None:
    """Client-only (+) tags to relay; None when they are over the limit."""
    if not msg.tags or C.MESSAGE_TAGS not in s.caps:
        return ""
    tags = {k: v for k, v in msg.tags.items() if k.startswith("+")}
    if not tags:
        return ""
    rendered = format_tags(tags)
    if len(rendered.encode()) > MAX_TAGS_CLIENT:
        return None
    return rendered


def _collect(s: Session, msg: Line, verb: str, ref: str) -> None:
    """A line of a client batch (draft/multiline): kept until the batch ends."""
    batch = s.multiline
    if batch is None:
        return
    if ref != batch.ref or verb == "TAGMSG" or len(msg.params) < 2:
        s.multiline = None
        s.fail("BATCH", "MULTILINE_INVALID", "Invalid multiline batch")
        return
    assert msg.tags is not None
    refusal = batch.add(verb, msg.params[0], msg.params[1], C.MULTILINE_CONCAT in msg.tags)
    if refusal:
        s.multiline = None
        s.fail("BATCH", *refusal, "Invalid multiline batch")


def send_multiline(s: Session, batch: Multiline) -> None:
    """A client batch that ended: one message to its target."""
    if not batch.lines or not any(batch.lines):
        s.fail("BATCH", "MULTILINE_INVALID", "Empty multiline batch")
        return
    tags = dict(batch.tags)
    target = s.core.find(batch.target) if not batch.target.startswith("#") else None
    if target is not None and is_service(target.uniform):
        # A service reads one command: the logical line, however it was cut.
        line = Line(
            tags=tags, source=None, command=batch.verb, params=[batch.target, batch.logical()]
        )
        _deliver(s, line, batch.verb, "", whole=True)
        return
    line = Line(tags=tags, source=None, command=batch.verb, params=[batch.target, batch.text()])
    _deliver(s, line, batch.verb, batch.flags(), whole=True)


def _deliver(s: Session, msg: Line, verb: str, multiline: str = "", whole: bool = False) -> None:
    client = s.client
    assert client is not None
    notice = verb == "NOTICE"
    tagmsg = verb == "TAGMSG"
    if msg.tags and "batch" in msg.tags and s.multiline is not None and not whole:
        return _collect(s, msg, verb, msg.tags["batch"])
    if not msg.params or not msg.params[0]:
        if not notice:
            s.numeric(N.ERR_NORECIPIENT, f"No recipient given ({verb})")
        return
    text = msg.params[1] if len(msg.params) > 1 else ""
    if not tagmsg and not text:
        if not notice:
            s.numeric(N.ERR_NOTEXTTOSEND, "No text to send")
        return
    tags = _client_tags(s, msg) if msg.tags else ""
    if tags is None:
        s.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")
        return
    if tagmsg and not tags:
        return  # a TAGMSG without client tags carries nothing
    first = msg.params[0]
    targets = [t for t in first.split(",") if t] if "," in first else [first]
    if len(targets) > s.core.config.limits.max_targets:
        s.numeric(N.ERR_TOOMANYTARGETS, msg.params[0], "Too many targets")
        return
    suffix = V.NOTICE if notice else V.TAGMSG_SUFFIX if tagmsg else ""
    for target in targets:
        status = ""
        name = target
        while len(name) > 1 and name[0] in STATUS_PREFIXES and name[1] in _STATUS_OR_CHANNEL:
            status = status or name[0]
            name = name[1:]
        if name.startswith("#"):
            _public(s, client, name, status, text, tags, suffix, notice, multiline)
        else:
            _private(s, client, target, text, tags, suffix, notice, multiline)


def _public(
    s: Session,
    client: Client,
    name: str,
    status: str,
    text: str,
    tags: str,
    suffix: str,
    notice: bool,
    multiline: str,
) -> None:
    """A line to a channel: one packet to its place (every channel line comes here)."""
    # The channels are keyed by folded name, and a name as clients mostly write it is
    # folded already: a key is found without folding (folding a key changes nothing).
    channels = client.channels
    view = channels.get(name)
    if view is None:
        view = channels.get(casefold(name))
    core = s.core
    uniform = view.uniform if view is not None else place_uniform(s, name)
    net = core.net
    # A place homed here gets the line at once, and dates it itself.
    here = uniform.startswith(net.local)
    gone = "" if here else net.split_off(uniform)
    if gone:
        if not notice:
            s.numeric(
                N.ERR_CANNOTSENDTOCHAN,
                name,
                f"Cannot send to channel: its server {gone} is unreachable",
            )
        return
    vars: dict[str, Value] = {
        V.NICK: client.nick,
        V.PREFIX: client.prefix,
        V.NICK_PLACE: name,
    }
    if not here:  # when it was said: a line queued during a split is dated by its origin
        vars[V.TIME] = str(int(core.clock() * 1000))
    _add_sender_vars(vars, client, tags, multiline)
    if status:
        vars[V.STATUSMSG] = status
    method = V.MESSAGE_PUBLIC + suffix if suffix else V.MESSAGE_PUBLIC
    if len(client.sessions) > 1:  # for the echo to the other sessions (multiclient)
        client.said_to_channel(s, name, method, text)
    # What `Person.request` would send, built here in one go.
    core.router.send(Packet(method, {V.SOURCE: client.uniform, V.TARGET: uniform}, vars, text))


def _add_sender_vars(vars: dict[str, Value], client: Client, tags: str, multiline: str) -> None:
    """What a line carries of its sender and its form, when there is any: the account
    (+M, a: bans, account-tag), client tags, the bot flag, a multiline batch."""
    if client.account:
        vars[V.ACCOUNT] = client.account
    if tags:
        vars[V.TAGS] = tags
    if "B" in client.modes:
        vars[V.FLAG_BOT] = "1"
    if multiline:
        vars[V.MULTILINE] = multiline


def _private(
    s: Session,
    client: Client,
    nick: str,
    text: str,
    tags: str,
    suffix: str,
    notice: bool,
    multiline: str = "",
) -> None:
    core = s.core
    target = core.persons.find(nick)  # IRCServer.find, one call less
    absent = ""  # nobody has the nick, but its account keeps messages (the away log)
    if target is None:
        absent = next((a for o in core.person_observers if (a := o.absent_account(nick))), "")
        if not absent:
            if not notice:
                s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
            return
    vars: dict[str, Value] = {
        V.NICK: client.nick,
        V.PREFIX: client.prefix,
        V.NICK_TARGET: target.nick if target is not None else nick,
        V.ID: new_id(),
        V.TIME: str(int(core.clock() * 1000)),
    }
    _add_sender_vars(vars, client, tags, multiline)
    service = False
    if target is None:
        vars[V.ACCOUNT_TARGET] = absent
    elif is_service(target.uniform):  # a service (NickServ): it rate-limits by address, CERT ADD
        service = True
        vars[V.IP] = client.ip
        vars[V.CERTFP] = s.certfp
    packet = Packet(
        V.MESSAGE_PRIVATE + suffix,
        {
            V.SOURCE: client.uniform,
            V.TARGET: target.uniform if target is not None else person(core.name, nick),
        },
        vars,
        text,
    )
    if target is not None:
        core.router.send(packet)
        if target.away and not notice and not suffix:
            s.numeric(N.RPL_AWAY, target.nick, target.away)
    for hook in core.private_hooks():  # history, the away log
        hook(s, client, target, packet)
    # The sender's echo (with echo-message; to oneself too: the echo is the labeled
    # reply, the delivered copy is not), and a copy for the person's other sessions,
    # which got no delivered copy (unless it went to the person itself).  Nothing said
    # to a service is copied: its commands carry passwords.
    sessions = client.sessions
    if len(sessions) == 1 and C.ECHO_MESSAGE not in s.caps:
        return  # one session and no echo: nothing to copy (the common case)
    copies = target is not client and not service
    cache = packet.render_cache  # the recipient's line: the same bytes for the same caps
    for session in sessions:
        if session is s:
            if C.ECHO_MESSAGE not in session.caps:
                continue
        elif not copies:
            continue
        data = cache.get(session.fmt)
        if data is None:
            data = cache[session.fmt] = render_message(packet, session.fmt)
        if data:
            session.send(data)


# PRIVMSG <target>{,<target>} <text to be sent>
@command("PRIVMSG")
def handle_privmsg(s: Session, msg: Line) -> None:
    _deliver(s, msg, "PRIVMSG")


# NOTICE <target>{,<target>} <text to be sent>
@command("NOTICE")
def handle_notice(s: Session, msg: Line) -> None:
    _deliver(s, msg, "NOTICE")


# TAGMSG <target>{,<target>}
@command("TAGMSG")
def handle_tagmsg(s: Session, msg: Line) -> None:
    _deliver(s, msg, "TAGMSG")
