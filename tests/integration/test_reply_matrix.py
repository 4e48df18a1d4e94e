"""The reply-count matrix: every registered command, answered exactly once.

Each command in the server's dispatch table (`ircpsyc.ircd.core.COMMANDS`, as
`ircpsyc.server` registers it) is sent with typical arguments and with edge
ones (none, too many, unicode, a target that does not exist), by a normal user
and by an IRC operator, to one real server process with flood control and one
without.  Every command carries an IRCv3 label: its response (one line, an ACK
or a labeled batch) must come exactly once, no end-of-list numeric may repeat
within it, nothing may say INTERNAL_ERROR, and the server must log no error.

This found commands answered from `Session.later()` running again when their
answer came at once (AWAYLOG, CHATHISTORY TARGETS: the input loop re-entered).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import pytest
from conftest import OPER_NAME, OPER_PASSWORD, SERVER_NAME, ServerStarter
from irctokens.line import Line

import ircpsyc.server  # noqa: F401  (registers every command, links' included)
from ircpsyc.ircd.core import COMMANDS
from ircpsyc.services.chanserv import COMMANDS as CHANSERV_COMMANDS
from ircpsyc.services.nickserv import COMMANDS as NICKSERV_COMMANDS

from .support import RawClient, aio, connect_registered, unique

CAPS = ("labeled-response", "batch", "message-tags", "echo-message", "server-time")
CHUNK = 8  # labeled commands sent in one write, then a PING to see them all answered

END_OF = {
    "219",  # STATS
    "315",  # WHO
    "318",  # WHOIS
    "323",  # LIST
    "337",  # INVITE list
    "347",  # +I list
    "349",  # +e list
    "365",  # LINKS
    "366",  # NAMES
    "368",  # +b list
    "369",  # WHOWAS
    "374",  # INFO
    "376",  # MOTD
    "706",  # HELP
    "733",  # MONITOR list
}

# Edge arguments every command gets (but QUIT, NICK, which has its own, and WEBIRC).
TOO_MANY = "#zz-nochan " + " ".join(f"p{i}" for i in range(2, 21))
UNICODE = "#ünïcødé ☃ :ünïcødé 𝄞 ☃ \u202e"
GENERIC = ["", TOO_MANY, UNICODE, "nobody-here :some text", "#nowhere-here"]
NO_GENERIC = {"QUIT", "NICK", "WEBIRC"}
TS = "timestamp=2020-01-01T00:00:00.000Z"
TS_LATE = "timestamp=2099-01-01T00:00:00.000Z"

# Typical arguments; {me} {peer} {victim} {chan} {server} are filled in.
TYPICAL: dict[str, list[str]] = {
    "ADMIN": ["{server}", "nowhere.example"],
    "AUTHENTICATE": ["PLAIN", "*"],
    "AWAY": [":gone for lunch", ""],
    "AWAYLOG": ["LIST", "PLAY", "CLEAR", "LIST"],
    "BATCH": ["+m1 draft/multiline {chan}", "-m1", "+m2 other.example/type {chan}", "nothing"],
    "CAP": ["LS 302", "LIST", "REQ :no-such-cap", "END"],
    "CHANSERV": ["HELP", "INFO {chan}"],
    "CHATHISTORY": [
        "LATEST {chan} * 10",
        f"BEFORE {{chan}} {TS_LATE} 5",
        f"AFTER {{peer}} {TS} 5",
        f"AROUND {{chan}} {TS} 5",
        f"BETWEEN {{chan}} {TS} {TS_LATE} 10",
        f"TARGETS {TS} {TS_LATE} 10",
        "LATEST #nowhere-here * 10",
        "LATEST {chan} * 0",
    ],
    "CONNECT": ["nowhere.example", "{server}"],
    "CS": ["HELP", "INFO {chan}", "REGISTER {chan}", "INFO {chan}", "OP {chan}"],
    "DLINE": ["1m 192.0.2.1 :matrix", "192.0.2.0/24", "not-an-address"],
    "GLOBOPS": [":matrix says hello"],
    "HELP": ["JOIN", "nosuchtopic"],
    "HELPOP": ["MODE"],
    "INFO": ["{server}"],
    "INVITE": ["{peer} {chan}", "nobody-here {chan}"],
    "ISON": ["{peer} nobody-here {me}"],
    "ISUPPORT": [""],
    "JOIN": ["{chan}", "{chan}x,{chan}y", "{chan}z key", "&local", "0", "{chan}"],
    "KICK": ["{chan} {victim} :bye", "{chan} nobody-here", "#nowhere-here {peer}"],
    "KILL": ["nobody-here :matrix"],
    "KLINE": ["1m *@192.0.2.2 :matrix", "1m nobody@192.0.2.3", "*@192.0.2.4"],
    "KNOCK": ["{chan}"],
    "REDACT": ["{chan} nosuchid", "{chan} nosuchid :why", "#nowhere-here x", "{peer} x"],
    # Only renames that fail: the channel is used by the commands after it.
    "RENAME": ["{chan} {chan}", "{chan} nohash :why", "#nowhere-here #elsewhere-here"],
    "LINKS": ["*", "nowhere.example"],
    "LIST": ["{chan}", ">0", "<100", "#*", "*a*a*a*a*a*a*a*ab", "!{chan}"],
    "LUSERS": ["*"],
    "MARKREAD": [
        "{chan}",
        f"{{chan}} {TS}",
        f"{{peer}} {TS_LATE}",
        "{chan} *",
        "{chan} timestamp=garbage",
        "{peer}",
    ],
    "MAP": ["*"],
    "MODE": [
        "{chan}",
        "{chan} +b",
        "{chan} +e",
        "{chan} +I",
        "{chan} +b nobody!*@*",
        "{chan} +b r:*a*a*a*a*a*ab",
        "{chan} -b nobody!*@*",
        "{chan} +o {peer}",
        "{chan} -o {peer}",
        "{chan} +lk 50 key",
        "{chan} -lk key",
        "{chan} +f 5:10",
        "{chan} +Z",
        "{me}",
        "{me} +iw",
        "{me} -iw",
        "{peer}",
    ],
    "METADATA": [
        "* SET display-name :Matrix",
        "* GET display-name avatar bad$key",
        "* LIST",
        "{peer} LIST",
        "{peer} SET color :red",
        "{chan} SET url :https://example.com/",
        "{chan} GET url",
        "{chan} LIST",
        "{chan} SET nokey",
        "* SUB avatar display-name bad$key",
        "* SUBS",
        "* UNSUB avatar",
        "{chan} SYNC",
        "* SYNC",
        "* CLEAR",
        "{chan} CLEAR",
        "* BOGUS",
        "nobody-here LIST",
        "#nowhere-here GET url",
        "* SET bad$key :value",
    ],
    "MONITOR": ["+ {peer},nobody-here", "L", "S", "- nobody-here", "C", "X"],
    "MOTD": ["{server}", "nowhere.example"],
    "NAMES": ["{chan}", "{chan},#nowhere-here"],
    "NICK": ["", "{peer}", "{me}", "1bad", "#bad x y z", UNICODE],
    "NICKSERV": ["HELP", "INFO"],
    "NOTICE": ["{peer} :hi", "{chan} :hi", "nobody-here :hi"],
    "NS": ["HELP", "INFO", "INFO {peer}", "SET", "SET MULTICLIENT ON", "CERT LIST"],
    "OPER": [f"{OPER_NAME} wrong-password", "nobody pw"],
    "PART": ["{chan}x :bye", "#nowhere-here"],
    "PASS": ["secret"],
    "PING": ["token", ":with a space"],
    "PONG": ["token"],
    "PRIVMSG": [
        "{peer} :hello",
        "{chan} :hello",
        "@{chan} :to ops",
        "{chan} :\x01ACTION waves\x01",
        "{peer} :\x01VERSION\x01",
        "NickServ :HELP",
        "ChanServ :HELP",
        "nobody-here :hi",
        "$*.example :mass",
    ],
    "QUIT": [],  # last, and on its own
    "REGISTER": ["* * pw-matrix-1", "acct-matrix x@y.example pw-matrix-2"],
    "REHASH": [""],
    "SAJOIN": ["{peer} {chan}s", "nobody-here {chan}"],
    "SANICK": ["nobody-here newnick", "{peer} {me}"],
    "SAPART": ["{peer} {chan}s", "nobody-here {chan}"],
    "SETNAME": [":A New Real Name"],
    "SQUIT": ["nowhere.example :bye"],
    "STATS": ["l", "u", "o", "k", "m", "c", "y", "i", "d", "?"],
    "TAGMSG": ["{peer}", "{chan}"],
    "TIME": ["{server}", "nowhere.example"],
    "TOPIC": ["{chan}", "{chan} :a topic", "{chan} :"],
    "UNDLINE": ["192.0.2.1", "192.0.2.99"],
    "UNKLINE": ["*@192.0.2.2", "nobody@nowhere"],
    "USER": ["u 0 * :real"],
    "USERHOST": ["{peer} {me} nobody-here"],
    "VERIFY": ["acct-matrix 123456"],
    "VERSION": ["{server}", "nowhere.example"],
    "WALLOPS": [":matrix wallops"],
    # Too few parameters only: a whole WEBIRC after registration closes the
    # connection, as the specification says (tests/integration/test_webirc.py).
    "WEBIRC": ["", "secret gateway"],
    "WHO": ["{chan}", "{peer}", "* %tnuhraf,42", "{chan} o", "*a*a*a*a*a*ab", "0"],
    "WHOIS": ["{peer}", "{me}", "{server} {peer}", "{peer},{me}", "{peer} {peer}"],
    "WHOWAS": ["nobody-here", "{victim}", "{peer} 1"],
}


@dataclass
class Problems:
    found: list[str] = field(default_factory=list)

    def add(self, role: str, sent: str, text: str, lines: list[Line]) -> None:
        shown = "\n".join("      " + m.format() for m in lines[:12])
        self.found.append(f"{role}: {sent!r}: {text}\n{shown}")


def cases(role: str) -> list[str]:
    """Every (command + arguments) line for one client, in dispatch-table order."""
    out: list[str] = []
    for name in sorted(COMMANDS):
        if name == "QUIT":
            continue
        variants = list(TYPICAL[name])
        if name not in NO_GENERIC:
            variants += GENERIC
        if name in ("NS", "NICKSERV"):
            variants += [f"HELP {sub}" for sub in NICKSERV_COMMANDS]
            variants += [sub for sub in NICKSERV_COMMANDS if sub not in ("LOGOUT", "DROP")]
        if name in ("CS", "CHANSERV"):
            variants += [f"HELP {sub}" for sub in CHANSERV_COMMANDS]
            variants += [f"{sub} {{chan}}" for sub in CHANSERV_COMMANDS if sub != "DROP"]
        if name == "KILL" and role == "oper":
            variants.append("{victim} :matrix")  # somebody else; KILL of self comes last
        out += [f"{name} {args}".rstrip() for args in variants]
    return out


def labeled_responses(lines: list[Line]) -> tuple[Counter[str], dict[str, list[Line]]]:
    """How often each label was sent, and the lines of each label's response."""
    tagged: Counter[str] = Counter()
    batches: dict[str, str] = {}  # batch reference -> label
    response: dict[str, list[Line]] = {}
    for line in lines:
        tags = line.tags or {}
        label = tags.get("label")
        if label is not None:
            tagged[label] += 1
        elif tags.get("batch") in batches:
            label = batches[tags["batch"]]
        elif line.command == "BATCH" and line.params[0][1:] in batches:
            label = batches[line.params[0][1:]]  # the end of a labeled batch
        if label is None:
            continue
        if line.command == "BATCH" and line.params[0].startswith("+"):
            batches[line.params[0][1:]] = label
        response.setdefault(label, []).append(line)
    return tagged, response


def repeated(lines: list[Line]) -> bool:
    """Whether the response is one block of lines sent several times over."""
    texts = [(m.command, tuple(m.params)) for m in lines if m.command != "BATCH"]
    size = len(texts)
    return any(
        size % parts == 0 and texts == texts[: size // parts] * parts
        for parts in range(2, size + 1)
        if size // parts > 0
    )


def check_chunk(role: str, sent: dict[str, str], lines: list[Line], problems: Problems) -> None:
    tagged, response = labeled_responses(lines)
    for line in lines:
        if line.command == "FAIL" and "INTERNAL_ERROR" in line.params:
            problems.add(role, line.params[0], "FAIL INTERNAL_ERROR", [line])
    for label, text in sent.items():
        got = response.get(label, [])
        if tagged[label] != 1:
            problems.add(role, text, f"label tagged on {tagged[label]} lines, not 1", got)
            continue
        ends = Counter(
            (m.command, m.params[1] if len(m.params) > 1 else "")
            for m in got
            if m.command in END_OF
        )
        twice = [key for key, count in ends.items() if count > 1]
        if twice:
            problems.add(role, text, f"end-of numeric repeated: {twice}", got)
        elif len(got) > 1 and repeated(got):
            problems.add(role, text, "the same reply sent more than once", got)


async def logged_in(port: int, nick: str) -> RawClient:
    client = await connect_registered(port, nick, caps=CAPS)
    await client.send(f"PRIVMSG NickServ :REGISTER {nick}-password")
    await client.expect("900", timeout=10)
    await client.sync()
    return client


async def run_cases(
    client: RawClient, role: str, names: dict[str, str], problems: Problems
) -> None:
    counter = itertools.count()
    todo = [text.format(**names) for text in cases(role)]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        sent = {f"{role}{next(counter)}": text for text in chunk}
        await client.send(*(f"@label={label} {text}" for label, text in sent.items()))
        lines = await client.sync(timeout=20)
        check_chunk(role, sent, lines, problems)


async def last_words(client: RawClient, role: str, command: str, problems: Problems) -> None:
    """QUIT or KILL of oneself: one labeled reply or none, then exactly one ERROR."""
    await client.send(f"@label={role}-last {command}")
    lines = await client.until_closed(timeout=10)
    errors = [m for m in lines if m.command == "ERROR"]
    tagged, _ = labeled_responses(lines)
    if len(errors) != 1 or tagged[f"{role}-last"] > 1:
        problems.add(role, command, f"{len(errors)} ERROR lines", lines)


@aio
async def exercise(port: int, problems: Problems) -> None:
    chan = "#" + unique("matrix")
    peer = await connect_registered(port, unique("peer"))
    victim = await connect_registered(port, unique("victim"))
    user = await logged_in(port, unique("user"))
    oper = await logged_in(port, unique("oper"))
    await oper.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await oper.expect("381", timeout=10)
    for client in (user, peer, victim):
        await client.send(f"JOIN {chan}")
        await client.expect("366")
    await oper.sync()
    base = {"chan": chan, "peer": peer.nick, "victim": victim.nick, "server": SERVER_NAME}
    await run_cases(user, "user", {**base, "me": user.nick}, problems)
    # The operator's KILL takes the victim: someone new for KICK and WHOWAS.
    await run_cases(oper, "oper", {**base, "me": oper.nick}, problems)
    await last_words(user, "user", "QUIT :matrix done", problems)
    await last_words(oper, "oper", f"KILL {oper.nick} :matrix done", problems)
    # Still serving.
    await peer.sync()


CONFIGS = {
    # Flood control on, with room for the matrix: chunks still run into fake lag.
    "flood-control": {"limits": {"flood_burst": 6, "flood_rate": 400.0}},
    "no-flood-control": {"limits": {"flood_rate": 0}},
}


def test_every_command_is_in_the_matrix() -> None:
    assert set(TYPICAL) == set(COMMANDS), (
        "give new commands typical arguments in TYPICAL (or remove gone ones): "
        f"{sorted(set(TYPICAL) ^ set(COMMANDS))}"
    )


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_command_answers_exactly_once(ircpsyc_server: ServerStarter, config: str) -> None:
    server = ircpsyc_server(CONFIGS[config])
    problems = Problems()
    exercise(server.port, problems)
    assert server.alive()
    log = server.log()
    bad = [ln for ln in log.splitlines() if " ERROR " in ln or "Traceback" in ln]
    assert not bad, "the server logged errors:\n" + "\n".join(bad)
    assert not problems.found, f"{len(problems.found)} problems:\n" + "\n".join(problems.found)
