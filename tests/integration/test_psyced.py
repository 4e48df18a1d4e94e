"""Federation with the real psyced (`../shared/psyced`, the original PSYC server).

psyced runs on 127.0.0.1 with free ports (its PSYC port, its own IRC emulation);
our server is `127.P.Q.R` (a loopback address of its own) with its PSYC listener on
port 4404 there, so that psyced reaches our uniforms (`psyc://127.P.Q.R/~nick`)
the way it reaches any PSYC host: port 4404 of the uniform's host.  On psyced's
side an IRC client (`boss`, psyced's administrator: unregistered psyced users get
no private messages from strangers) plays the psyced user.

Skipped with a reason when `../shared/psyced` (beside the repository) is absent.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, ServerFactory, ServerProcess, free_port

from .support import RawClient, aio


def _psyced_dir() -> Path:
    """`../shared/psyced` beside the repository (beside the main checkout for a git
    worktree); IRCPSYC_PSYCED names another place."""
    if os.environ.get("IRCPSYC_PSYCED"):
        return Path(os.environ["IRCPSYC_PSYCED"])
    here = REPO.parent / "shared" / "psyced"
    if here.exists():
        return here
    common = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return Path(common).parent.parent / "shared" / "psyced" if common else here


PSYCED = _psyced_dir()
START = PSYCED / "start.sh"
WAIT = 20.0

pytestmark = pytest.mark.skipif(
    not START.exists(), reason=f"no psyced to talk to: {PSYCED} is missing"
)


class Psyced:
    """A running psyced on 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.psyc = free_port()
        self.irc = free_port()
        self.telnet = free_port()
        out = subprocess.run(
            [str(START), str(directory), str(self.psyc), str(self.irc), str(self.telnet)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        self.pid = int(out.stdout.split()[-1])

    @property
    def root(self) -> str:
        return f"psyc://127.0.0.1:{self.psyc}/"

    def place(self, name: str) -> str:
        return f"{self.root}@{name}"

    def person(self, nick: str) -> str:
        return f"{self.root}~{nick}"

    def stop(self) -> None:
        try:
            os.kill(self.pid, 15)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            subprocess.run(["sleep", "0.1"], check=False)
        os.kill(self.pid, 9)

    def restart(self) -> None:
        self.stop()
        out = subprocess.run(
            [str(START), str(self.directory), str(self.psyc), str(self.irc), str(self.telnet)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        self.pid = int(out.stdout.split()[-1])


@pytest.fixture
def psyced(tmp_path: Path) -> Iterator[Psyced]:
    server = Psyced(tmp_path / "psyced")
    try:
        yield server
    finally:
        server.stop()


def loopback_with_4404() -> str:
    """A loopback address whose port 4404 is free (psyced dials 4404 of our host)."""
    for _ in range(50):
        address = f"127.{random.randint(2, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        with socket.socket() as sock:
            try:
                sock.bind((address, 4404))
            except OSError:
                continue
            return address
    pytest.skip("no loopback address with a free port 4404")


@pytest.fixture
def ours(factory: ServerFactory) -> ServerProcess:
    name = loopback_with_4404()
    return factory(
        {
            "server": {"name": name},
            "listen": {"psyc": f"{name}:4404"},
            "limits": {"flood_rate": 1000.0, "flood_burst": 1000},
            "federation": {"dial_private": True},  # psyced is on loopback
        }
    )


def our_host(server: ServerProcess) -> str:
    return str(server.config["server"]["name"])


async def psyced_user(psyced: Psyced, nick: str = "boss", password: str = "boss") -> RawClient:
    client = await RawClient.connect(psyced.irc)
    client.nick = nick
    if password:
        await client.send(f"PASS {password}")
    await client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    await client.expect("001", timeout=WAIT)
    await client.expect("376", "422", timeout=WAIT)
    return client


async def chat_line(client: RawClient, text: str) -> object:
    return await client.expect("PRIVMSG", where=lambda m: m.params[-1] == text, timeout=WAIT)


@aio
async def test_join_a_psyced_place_and_chat_both_ways(psyced: Psyced, ours: ServerProcess) -> None:
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    room = "#" + psyced.place("lounge")
    await alice.send(f"JOIN {room}")
    join = await alice.expect("JOIN", timeout=WAIT)
    assert join.params[0] == room
    names = await alice.expect("353", timeout=WAIT)
    assert "alice" in names.params[-1].split()
    assert psyced.person("boss") in names.params[-1].replace("@", "").split()
    # psyced tells its user (the nick is our uniform)
    await boss.expect("JOIN", where=lambda m: "~alice" in (m.source or ""), timeout=WAIT)
    await alice.send(f"PRIVMSG {room} :hello psyced")
    line = await chat_line(boss, "hello psyced")
    assert line.params[0] == "#lounge"
    await boss.send("PRIVMSG #lounge :hello ircpsyc")
    line = await chat_line(alice, "hello ircpsyc")
    assert line.params[0] == room
    assert (line.source or "").startswith(psyced.person("boss") + "!")
    # Exactly once, both ways: nothing doubled or resent after a while.
    await asyncio.sleep(4.0)
    later = await alice.sync()
    assert not [m for m in later if m.command == "PRIVMSG"]
    assert [m.params[-1] for m in alice.history if m.command == "PRIVMSG"] == ["hello ircpsyc"]
    await boss.quiet(0.5)
    assert [m.params[-1] for m in boss.history if m.command == "PRIVMSG"].count("hello psyced") == 1


@aio
async def test_private_messages_both_ways(psyced: Psyced, ours: ServerProcess) -> None:
    boss = await psyced_user(psyced)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    await alice.send(f"PRIVMSG {psyced.person('boss')} :psst boss")
    line = await chat_line(boss, "psst boss")
    assert line.params[0] == "boss"
    assert "~alice" in (line.source or "")
    alice_uniform = f"psyc://{our_host(ours)}/~alice"
    await boss.send(f"PRIVMSG {alice_uniform} :psst alice")
    line = await chat_line(alice, "psst alice")
    assert line.params[0] == "alice"  # never `PRIVMSG  :text`
    assert (line.source or "").startswith(psyced.person("boss") + "!")
    await asyncio.sleep(4.0)  # nothing resent: each arrived once
    await alice.sync()
    assert [m.params[-1] for m in alice.history if m.command == "PRIVMSG"] == ["psst alice"]
    await boss.quiet(0.5)
    assert [m.params[-1] for m in boss.history if m.command == "PRIVMSG"].count("psst boss") == 1
    # An unregistered psyced user takes no messages from strangers: psyced says so.
    await psyced_user(psyced, "carl", password="")
    await alice.send(f"PRIVMSG {psyced.person('carl')} :psst carl")
    notice = await alice.expect("NOTICE", timeout=WAIT)
    assert (notice.source or "").startswith(psyced.person("carl") + "!")
    assert notice.params[0] == "alice"


@aio
async def test_psyced_user_in_our_channel(psyced: Psyced, ours: ServerProcess) -> None:
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    await alice.send("JOIN #ours", "TOPIC #ours :our topic")
    await alice.expect("TOPIC", timeout=WAIT)
    boss = await psyced_user(psyced)
    room = f"#psyc://{our_host(ours)}/@ours"
    await boss.send(f"JOIN {room}")
    joined = await alice.expect("JOIN", timeout=WAIT)
    foreign = psyced.person("boss")
    assert (joined.source or "").startswith(foreign + "!")
    await boss.expect("JOIN", where=lambda m: m.params[0].lower() == room.lower(), timeout=WAIT)
    await alice.send("PRIVMSG #ours :welcome")
    line = await chat_line(boss, "welcome")
    await boss.send(f"PRIVMSG {room} :thanks")
    line = await chat_line(alice, "thanks")
    assert line.params[0] == "#ours" and (line.source or "").startswith(foreign + "!")
    # A foreign person is kicked and banned like anyone.
    await alice.send(f"MODE #ours +b {foreign}!*@*", f"KICK #ours {foreign} :out")
    kick = await alice.expect("KICK", timeout=WAIT)
    assert kick.params[1] == foreign
    # psyced shows its user leaving the place (its IRC emulation has no KICK).
    await boss.expect(
        "KICK", "PART", where=lambda m: m.params[0].lower() == room.lower(), timeout=WAIT
    )
    await boss.send(f"JOIN {room}")
    await asyncio.sleep(3.0)
    await alice.sync()
    assert not [m for m in alice.history if m.command == "JOIN" and foreign in (m.source or "")][1:]


@aio
async def test_topic_and_leave_both_ways(psyced: Psyced, ours: ServerProcess) -> None:
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    room = "#" + psyced.place("lounge")
    await alice.send(f"JOIN {room}")
    await alice.expect("366", timeout=WAIT)
    await boss.expect("JOIN", where=lambda m: "~alice" in (m.source or ""), timeout=WAIT)
    # psyced's topic reaches us, as a TOPIC and in TOPIC's answer.
    await boss.send("TOPIC #lounge :set on psyced")
    topic = await alice.expect("TOPIC", timeout=WAIT)
    assert topic.params == [room, "set on psyced"]
    assert (topic.source or "").startswith(psyced.person("boss") + "!")
    await alice.send(f"TOPIC {room}")
    assert (await alice.expect("332", timeout=WAIT)).params[-1] == "set on psyced"
    # Our channel's topic reaches psyced's user in it; so does a PART, both ways.
    await alice.send("JOIN #ours", "TOPIC #ours :first")
    await alice.expect("TOPIC", where=lambda m: m.params[0] == "#ours", timeout=WAIT)
    ours_room = f"#psyc://{our_host(ours)}/@ours"
    await boss.send(f"JOIN {ours_room}")
    await alice.expect("JOIN", where=lambda m: m.params[0] == "#ours", timeout=WAIT)
    await alice.send("TOPIC #ours :second")
    seen = await boss.expect("TOPIC", where=lambda m: m.params[-1] == "second", timeout=WAIT)
    assert seen.params[0].lower() == ours_room.lower()
    # psyced's user, made an operator of ours, sets our topic.
    await alice.send(f"MODE #ours +o {psyced.person('boss')}")
    await alice.expect("MODE", where=lambda m: m.params[0] == "#ours", timeout=WAIT)
    await boss.send(f"TOPIC {ours_room} :third, from psyced")
    topic = await alice.expect("TOPIC", where=lambda m: m.params[0] == "#ours", timeout=WAIT)
    assert topic.params[-1] == "third, from psyced"
    assert (topic.source or "").startswith(psyced.person("boss") + "!")
    await boss.send(f"PART {ours_room}")
    part = await alice.expect("PART", where=lambda m: m.params[0] == "#ours", timeout=WAIT)
    assert (part.source or "").startswith(psyced.person("boss") + "!")
    await alice.send(f"PART {room} :bye")
    await alice.expect("PART", where=lambda m: m.params[0] == room, timeout=WAIT)
    await boss.expect(
        "PART",
        where=lambda m: "~alice" in (m.source or "") and m.params[0] == "#lounge",
        timeout=WAIT,
    )
    await alice.send(f"JOIN {room}")
    await alice.expect("366", timeout=WAIT)
    await boss.send("PART #lounge")
    part = await alice.expect("PART", where=lambda m: m.params[0] == room, timeout=WAIT)
    assert (part.source or "").startswith(psyced.person("boss") + "!")


@aio
async def test_psyced_restarted_mid_conversation(psyced: Psyced, ours: ServerProcess) -> None:
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    room = "#" + psyced.place("lounge")
    await alice.send(f"JOIN {room}")
    await alice.expect("366", timeout=WAIT)
    await alice.send(f"PRIVMSG {room} :before")
    await chat_line(boss, "before")
    psyced.restart()
    # Its users are gone with it: they leave the channel for us.
    gone = await alice.expect("PART", "QUIT", "KICK", timeout=WAIT)
    assert psyced.person("boss") in (gone.source or "") or gone.command == "KICK"
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    await alice.send(f"PART {room}")  # psyced forgot her: it says so, and she leaves
    await alice.expect("PART", where=lambda m: m.params[0] == room, timeout=WAIT)
    await alice.send(f"JOIN {room}")
    names = await alice.expect("353", timeout=WAIT)
    assert psyced.person("boss") in names.params[-1].replace("@", "").split()
    await alice.send(f"PRIVMSG {room} :after")
    await chat_line(boss, "after")
    await boss.send("PRIVMSG #lounge :welcome back")
    await chat_line(alice, "welcome back")


@aio
async def test_a_foreign_host_nobody_answers_on(ours: ServerProcess) -> None:
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    closed = free_port()  # nothing listens there
    await alice.send(f"JOIN #psyc://127.0.0.1:{closed}/@nowhere")
    error = await alice.expect("403", "437", "479", timeout=WAIT)
    assert f"{closed}" in " ".join(error.params)
    await alice.send(f"PRIVMSG psyc://127.0.0.1:{closed}/~nobody :hello?")
    await alice.expect("401", timeout=WAIT)
    log = ours.log()
    assert f"foreign circuit to 127.0.0.1:{closed} failed" in log


@aio
async def test_psyced_lost_its_users_leave_our_channel(psyced: Psyced, ours: ServerProcess) -> None:
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    await alice.send("JOIN #ours")
    await alice.expect("366", timeout=WAIT)
    boss = await psyced_user(psyced)
    await boss.send(f"JOIN #psyc://{our_host(ours)}/@ours")
    foreign = psyced.person("boss")
    await alice.expect("JOIN", where=lambda m: (m.source or "").startswith(foreign), timeout=WAIT)
    psyced.stop()
    gone = await alice.expect("PART", "QUIT", timeout=WAIT)
    assert (gone.source or "").startswith(foreign + "!")
    await alice.send("NAMES #ours")
    names = await alice.expect("353", timeout=WAIT)
    assert foreign not in names.params[-1]


@aio
async def test_entering_a_psyced_place_shows_its_topic(psyced: Psyced, ours: ServerProcess) -> None:
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    await boss.send("TOPIC #lounge :psyced's own topic")
    await boss.expect("TOPIC", "332", timeout=WAIT)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    room = "#" + psyced.place("lounge")
    await alice.send(f"JOIN {room}")
    lines = await alice.collect("366", timeout=WAIT)
    lines += await alice.sync()
    topics = [m for m in lines if m.command == "332"]
    assert [m.params[-1] for m in topics] == ["psyced's own topic"], lines
    await alice.send(f"TOPIC {room}")
    assert (await alice.expect("332", timeout=WAIT)).params[-1] == "psyced's own topic"


@aio
async def test_our_psyc_port_is_not_4404(psyced: Psyced, factory: ServerFactory) -> None:
    """Our uniforms carry our port then, as psyced's do, and psyced dials it."""
    name = loopback_with_4404()
    ours = factory(
        {
            "server": {"name": name},
            "listen": {"psyc": f"{name}:{free_port()}"},
            "limits": {"flood_rate": 1000.0, "flood_burst": 1000},
            "federation": {"dial_private": True},
        }
    )
    port = str(ours.config["listen"]["psyc"]).rsplit(":", 1)[1]
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    room = "#" + psyced.place("lounge")
    await alice.send(f"JOIN {room}")
    await alice.expect("366", timeout=WAIT)
    me = f"psyc://{name}:{port}/~alice"
    await boss.expect("JOIN", where=lambda m: (m.source or "").startswith(me + "!"), timeout=WAIT)
    await boss.send("PRIVMSG #lounge :hello", f"PRIVMSG {me} :psst")
    # psyced sends the cast and the private message over different circuits (the one
    # we opened and the one it opened to our port): either may come first.
    await alice.expect("PRIVMSG", where=lambda m: m.params[-1] == "psst", timeout=WAIT)
    lines = {m.params[-1]: m for m in [*alice.skipped, *alice.history] if m.command == "PRIVMSG"}
    if "hello" not in lines:
        lines["hello"] = await chat_line(alice, "hello")
    assert lines["psst"].params[0] == "alice"
    assert lines["hello"].params[0] == room


@aio
async def test_topic_and_kick_sent_to_a_psyced_place(psyced: Psyced, ours: ServerProcess) -> None:
    """psyced decides: a topic from anyone while the place is not public, only from
    its previous setter or an administrator once it is; a kick only from its owners.
    Its refusals reach our user as numerics."""
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    alice = await RawClient.connect(ours.port)
    await alice.register("alice")
    room = "#" + psyced.place("lounge")
    await alice.send(f"JOIN {room}")
    await alice.expect("366", timeout=WAIT)
    await boss.expect("JOIN", where=lambda m: "~alice" in (m.source or ""), timeout=WAIT)
    await alice.send(f"TOPIC {room} :set from ircpsyc")
    seen = await boss.expect("TOPIC", timeout=WAIT)
    assert seen.params == ["#lounge", "set from ircpsyc"]
    topic = await alice.expect("TOPIC", timeout=WAIT)
    assert topic.params == [room, "set from ircpsyc"]
    assert (topic.source or "").startswith("alice!")  # herself, as our places show her
    assert (seen.source or "").startswith(f"psyc://{our_host(ours)}/~alice!")
    # The place made public, then topic set by psyced's administrator: ours is refused.
    await boss.send("PRIVMSG #lounge :+public on")
    await boss.send("TOPIC #lounge :the administrator's")
    await alice.expect("TOPIC", where=lambda m: m.params[-1] == "the administrator's", timeout=WAIT)
    await alice.send(f"TOPIC {room} :again from ircpsyc")
    refused = await alice.expect("482", timeout=WAIT)
    assert refused.params[1:] == [room, "This function is not available to you here."]
    # A kick: psyced acts on its owners' only, and answers nobody else at all; our
    # user hears that it did not act.
    await alice.send(f"KICK {room} {psyced.person('boss')} :out")
    refused = await alice.expect("482", timeout=WAIT)
    assert refused.params[1] == room and "only its owners may kick" in refused.params[-1]
    await alice.send(f"NAMES {room}")
    names = await alice.expect("353", timeout=WAIT)
    assert psyced.person("boss") in names.params[-1].replace("@", "").split()
    assert not [m for m in boss.history if m.command in ("KICK", "PART")]


@aio
async def test_psyced_replays_its_history_as_history(psyced: Psyced, ours: ServerProcess) -> None:
    """psyced replays lines of a place to whoever enters it (asked with
    `_amount_history`): a `chathistory` batch with their times, or NOTICEs that say
    when to a client without batches, never live lines."""
    boss = await psyced_user(psyced)
    await boss.send("JOIN #lounge")
    await boss.expect("366", timeout=WAIT)
    await boss.send("PRIVMSG #lounge :said before")
    await asyncio.sleep(1.5)  # psyced's history has one-second times
    room = "#" + psyced.place("lounge")
    alice = await RawClient.connect(ours.port)
    await alice.register("alice", caps=["batch", "server-time"])
    await alice.send(f"JOIN {room}")
    line = await alice.expect("PRIVMSG", timeout=WAIT)
    assert line.params == [room, "said before"]
    assert (line.source or "").startswith(psyced.person("boss") + "!")
    assert "batch" in line.tags and "time" in line.tags
    opened = next(m for m in alice.history if m.command == "BATCH")
    assert opened.params[1:] == ["chathistory", room]
    plain = await RawClient.connect(ours.port)
    await plain.register("carol")
    await plain.send(f"JOIN {room}")
    notice = await plain.expect("NOTICE", where=lambda m: m.params[0] == room, timeout=WAIT)
    assert notice.params[-1].endswith("<" + psyced.person("boss") + "> said before")
    assert notice.params[-1].startswith("[20")
    assert not [m for m in plain.history if m.command == "PRIVMSG"]
