"""ChanServ: registration, the access list, automatic modes, persistence and locks (sans-IO)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from account_helpers import ServicesWorld, services_config
from helpers import FakeClient, Recorder, cmds
from irctokens.line import Line

from ircpsyc.assemble import install_chanserv
from ircpsyc.config import Config
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.services import chanserv as CS
from ircpsyc.services.registrations import (
    ChannelRegistrations,
    ChannelState,
    RegistrationError,
    parse_level,
)
from ircpsyc.store import Store


class CSWorld(ServicesWorld):
    """`ServicesWorld` plus ChanServ, as `Server.start` wires it."""

    def __init__(
        self, config: Config | None = None, path: str | Path = ":memory:", **services: Any
    ) -> None:
        super().__init__(config, path, **services)
        self.registrations = ChannelRegistrations(self.store, self.clock)
        self.chanserv = install_chanserv(self.core, self.registrations, self.accounts)


@pytest.fixture
def world() -> Iterator[CSWorld]:
    w = CSWorld()
    yield w
    w.close()


def cs(lines: list[Line]) -> list[str]:
    """The texts of NOTICEs from ChanServ."""
    return [
        m.params[-1]
        for m in lines
        if m.command == "NOTICE" and m.source and m.source.startswith("ChanServ!")
    ]


def modes(lines: list[Line]) -> list[list[str]]:
    return [m.params for m in lines if m.command == "MODE"]


def names(lines: list[Line]) -> set[str]:
    return {n for m in lines if m.command == "353" for n in m.params[-1].split()}


def founded(world: CSWorld, channel: str = "#room", founder: str = "alice") -> FakeClient:
    """A logged-in founder who created and registered `channel`."""
    alice = world.registered(founder)
    alice.send(f"JOIN {channel}")
    out = alice.send(f"CS REGISTER {channel}")
    assert f"{channel} is now registered to {founder}." in cs(out), [m.format() for m in out]
    alice.clear()
    return alice


def reloaded(world: CSWorld) -> ChannelRegistrations:
    """What a restarted server would read from the store."""
    return ChannelRegistrations(world.store, world.clock)


# -- REGISTER


def test_register_needs_login_membership_and_op(world: CSWorld) -> None:
    guest = world.client("guest")
    guest.send("JOIN #room")
    assert cs(guest.send("CS REGISTER #room")) == [
        "You must be logged in to register a channel: /msg NickServ IDENTIFY <password>"
    ]
    bob = world.registered("bob")
    assert cs(bob.send("CS REGISTER #room")) == ["You must be in #room to register it."]
    bob.send("JOIN #room")
    assert cs(bob.send("CS REGISTER #room")) == [
        "You must be a channel operator in #room to register it."
    ]
    assert cs(bob.send("CS REGISTER room")) == ["room is not a channel name here."]
    assert cs(bob.send("CS REGISTER")) == ["Not enough parameters. Syntax: REGISTER <#channel>"]
    assert len(world.registrations) == 0


def test_register_sets_r_and_q_and_is_committed(world: CSWorld) -> None:
    alice = world.registered("alice")
    alice.send("JOIN #Room")
    alice.send("TOPIC #Room :the topic")
    bob = world.client("bob")
    bob.send("JOIN #room")
    bob.clear()
    out = alice.send("PRIVMSG ChanServ :REGISTER #room")
    assert modes(out) == [["#Room", "+r"], ["#Room", "+q", "alice"]]
    assert all(m.source == "ChanServ!ChanServ@services.int" for m in out if m.command == "MODE")
    assert cs(out) == ["#Room is now registered to alice."]
    assert modes(bob.take()) == [["#Room", "+r"], ["#Room", "+q", "alice"]]
    reg = reloaded(world).get("#ROOM")
    assert reg is not None and reg.name == "#Room" and reg.founder == "alice"
    assert reg.state.topic == "the topic" and "r" in reg.state.flags
    assert cs(alice.send("CS REGISTER #room")) == ["#Room is already registered to alice."]


def test_one_account_founds_at_most_chanserv_max_channels() -> None:
    world = CSWorld(chanserv_max_channels=1)
    try:
        alice = founded(world, "#one")
        alice.send("JOIN #two")
        assert cs(alice.send("CS REGISTER #two")) == [
            "You already founded 1 channels, the most allowed."
        ]
    finally:
        world.close()


def test_two_servers_on_one_store_register_one_channel_once(tmp_path: Path) -> None:
    """Two copies of the table that both think #race is free: the primary key decides."""
    path = str(tmp_path / "race.sqlite3")
    stores = [Store(path), Store(path)]
    try:
        first, second = (ChannelRegistrations(s, lambda: 1000.0) for s in stores)
        first.register("#race", "alice", ChannelState())
        with pytest.raises(RegistrationError) as error:
            second.register("#Race", "bob", ChannelState())
        assert error.value.text == "#Race is already registered."
        again = ChannelRegistrations(stores[1], lambda: 1000.0).get("#race")
        assert again is not None and again.founder == "alice"
    finally:
        for store in stores:
            store.close()


# -- kept when empty, recreated on start


def test_registered_channel_is_kept_empty_and_gives_no_op_to_strangers(world: CSWorld) -> None:
    alice = founded(world)
    alice.send("PART #room")
    place = world.places.places.get("#room")
    assert place is not None and not place.members and "r" in place.flags
    bob = world.client("bob")
    out = bob.send("JOIN #room")
    assert names(out) == {"bob"} and modes(out) == []
    out = alice.send("JOIN #room")
    assert modes(out) == [["#room", "+q", "alice"]]
    assert "+q" in [m.params[1] for m in bob.take() if m.command == "MODE"]


def test_settings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite3"
    world = CSWorld(path=path)
    alice = founded(world)
    alice.send("TOPIC #room :kept topic")
    alice.send("MODE #room +ikl-t sesame 20")
    alice.send("MODE #room +bbe bad!*@* a:evil ok!*@*")
    alice.send("MODE #room +I friend!*@*")
    alice.send("MODE #room +f 5:10")
    world.close()  # nothing flushed on purpose: every change was committed when made

    again = CSWorld(path=path)
    try:
        place = again.places.places.get("#room")
        assert place is not None and not place.members
        assert place.flags == {"i", "n", "r"} and place.key == "sesame" and place.limit == 20
        assert str(place.flood) == "5:10"
        assert [e.mask for e in place.lists["b"]] == ["bad!*@*", "a:evil"]
        assert [e.mask for e in place.lists["e"]] == ["ok!*@*"]
        assert [e.mask for e in place.lists["I"]] == ["friend!*@*"]
        assert place.topic == "kept topic" and place.topic_setter.startswith("alice!")
        stranger = again.client("stranger")
        assert stranger.send("JOIN #room sesame")[0].command == "473"  # +i
        friend = again.client("friend")  # +I lets friend past +i
        out = friend.send("JOIN #room sesame")
        assert "JOIN" in cmds(out) and names(out) == {"friend"}
        assert next(m for m in out if m.command == "332").params[-1] == "kept topic"
    finally:
        again.close()


def test_founder_gets_q_when_joining_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite3"
    world = CSWorld(path=path)
    founded(world)
    world.close()
    again = CSWorld(path=path)
    try:
        alice = again.client("alice")
        alice.send("NS IDENTIFY secret-pw")
        out = alice.send("JOIN #room")
        assert names(out) == {"alice"} and modes(out) == [["#room", "+q", "alice"]]
    finally:
        again.close()


def test_flood_quiets_are_not_kept(world: CSWorld) -> None:
    alice = founded(world)
    alice.send("MODE #room +f 2:10")
    bob = world.client("bob")
    bob.send("JOIN #room")
    for _ in range(4):
        bob.send("PRIVMSG #room :spam")
    place = world.places.places["#room"]
    assert any(e.expires for e in place.lists["b"])
    reg = reloaded(world).get("#room")
    assert reg is not None and "b" not in reg.state.lists


# -- automatic modes and the access list


def test_access_add_levels_and_auto_modes(world: CSWorld) -> None:
    alice = founded(world)
    users = {nick: world.registered(nick) for nick in ("adm", "opr", "hop", "vox")}
    assert cs(alice.send("CS ACCESS #room ADD adm admin")) == [
        "adm added on the access list of #room as admin."
    ]
    alice.send("CS ACCESS #room ADD opr OP")
    alice.send("CS ACCESS #room ADD hop hop")
    alice.send("CS ACCESS #room ADD vox voice NOAUTO")
    got = {nick: modes(fake.send("JOIN #room")) for nick, fake in users.items()}
    assert got == {
        "adm": [["#room", "+a", "adm"]],
        "opr": [["#room", "+o", "opr"]],
        "hop": [["#room", "+h", "hop"]],
        "vox": [],
    }
    out = alice.send("CS ACCESS #room LIST")
    texts = cs(out)
    assert texts[0] == "Access list of #room:" and texts[-1] == "End of list."
    assert texts[1] == "  founder  alice"
    assert [t.split(",")[0] for t in texts[2:-1]] == [
        "  admin    adm",
        "  op       opr",
        "  halfop   hop",
        "  voice    vox (no automatic mode)",
    ]
    reg = reloaded(world).get("#room")
    assert reg is not None and {e.name: e.level for e in reg.access.values()} == {
        "adm": 1,
        "opr": 2,
        "hop": 3,
        "vox": 4,
    }


def test_access_changes_need_a_higher_level(world: CSWorld) -> None:
    alice = founded(world)
    adm = world.registered("adm")
    world.registered("opr")
    world.registered("other")
    guest = world.client("guest")
    alice.send("CS ACCESS #room ADD adm ADMIN")
    assert cs(guest.send("CS ACCESS #room ADD opr OP")) == [
        "You must be logged in to change the access list."
    ]
    assert cs(adm.send("CS ACCESS #room ADD other ADMIN")) == [
        "You may only add levels below yours (admin) to #room."
    ]
    assert cs(adm.send("CS ACCESS #room ADD opr OP")) == [
        "opr added on the access list of #room as OP."
    ]
    assert cs(adm.send("CS ACCESS #room ADD nobody OP")) == ["nobody is not a registered account."]
    assert cs(adm.send("CS ACCESS #room ADD opr king")) == [
        "The level must be ADMIN, OP, HALFOP, VOICE or BAN."
    ]
    assert cs(alice.send("CS ACCESS #room ADD alice OP")) == ["alice is the founder of #room."]
    assert cs(adm.send("CS ACCESS #room DEL adm")) == [
        "adm removed from the access list of #room."
    ]  # anybody may remove their own entry
    assert cs(adm.send("CS ACCESS #room DEL opr")) == [
        "Access denied: you need admin access to #room to change the access list."
    ]
    assert cs(alice.send("CS ACCESS #room DEL ghost")) == [
        "ghost is not on the access list of #room."
    ]
    assert cs(guest.send("CS ACCESS #room LIST")) == [
        "You must be logged in to see the access list."
    ]
    assert cs(adm.send("CS ACCESS #room LIST")) == [
        "Access denied: you need voice access to #room to see the access list."
    ]
    assert cs(alice.send("CS ACCESS #room FROB")) == [
        "Syntax: ACCESS <#channel> ADD <account|mask> <level> [NOAUTO|reason] "
        "| DEL <account|mask> | LIST"
    ]
    assert cs(alice.send("CS ACCESS #nowhere LIST")) == ["#nowhere is not registered."]


def test_access_list_is_bounded() -> None:
    world = CSWorld(chanserv_max_access=1)
    try:
        alice = founded(world)
        alice.send("CS ACCESS #room ADD a!*@* BAN")
        assert cs(alice.send("CS ACCESS #room ADD b!*@* BAN")) == [
            "The access list of #room is full."
        ]
    finally:
        world.close()


def test_ban_entries_ban_and_kick_on_join(world: CSWorld) -> None:
    alice = founded(world)
    evil = world.registered("evil")
    assert cs(alice.send("CS ACCESS #room ADD troll!*@* BAN go away")) == [
        "troll!*@* added on the access list of #room as BAN."
    ]
    assert cs(alice.send("CS ACCESS #room ADD evil ban")) == [
        "a:evil added on the access list of #room as ban."
    ]
    assert cs(alice.send("CS ACCESS #room ADD stranger BAN")) == [
        "stranger is not a registered account; to ban a nick use stranger!*@*"
    ]
    troll = world.client("troll")
    out = troll.send("JOIN #room")
    assert modes(out) == [["#room", "+b", "troll!*@*"]]
    kick = next(m for m in out if m.command == "KICK")
    assert kick.params == ["#room", "troll", "go away"]
    assert troll.send("JOIN #room")[0].command == "474"
    out = evil.send("JOIN #room")
    assert modes(out) == [["#room", "+b", "a:evil"]] and "KICK" in cmds(out)
    assert cs(alice.send("CS ACCESS #room DEL evil")) == [
        "a:evil removed from the access list of #room."
    ]
    # A new ban entry kicks matching members at once (but not those with access).
    bob = world.client("bob")
    bob.send("JOIN #room")
    out = alice.send("CS ACCESS #room ADD *!*@* BAN")
    kicked = [m.params[1] for m in out if m.command == "KICK"]
    assert kicked == ["bob"]


def test_amode_off_and_on(world: CSWorld) -> None:
    alice = founded(world)
    bob = world.registered("bob")
    alice.send("CS ACCESS #room ADD bob VOICE")
    assert cs(bob.send("CS AMODE #room OFF")) == ["Automatic mode of bob in #room is now OFF."]
    assert modes(bob.send("JOIN #room")) == []
    out = bob.send("CS AMODE #room ON")
    assert modes(out) == [["#room", "+v", "bob"]]
    assert cs(alice.send("CS AMODE #room OFF")) == ["Automatic mode of alice in #room is now OFF."]
    alice.send("PART #room")
    assert modes(alice.send("JOIN #room")) == []
    assert cs(alice.send("CS AMODE #room bob OFF")) == [
        "Automatic mode of bob in #room is now OFF."
    ]
    assert cs(bob.send("CS AMODE #room alice ON")) == [
        "Only alice may change their automatic mode."
    ]
    assert cs(bob.send("CS AMODE #room maybe")) == ["Syntax: AMODE <#channel> [account] ON|OFF"]
    reg = reloaded(world).get("#room")
    assert reg is not None and not reg.founder_auto and not reg.access["bob"].auto


def test_logging_in_inside_the_channel_gives_the_mode(world: CSWorld) -> None:
    alice = founded(world)
    world.registered("bob").send("QUIT")
    alice.send("CS ACCESS #room ADD bob OP")
    bob = world.client("bob")
    assert modes(bob.send("JOIN #room")) == []
    out = bob.send("NS IDENTIFY secret-pw")
    assert modes(out) == [["#room", "+o", "bob"]]


# -- persistence of mode and topic changes


def test_mode_and_topic_changes_are_committed_at_once(world: CSWorld) -> None:
    alice = founded(world)
    alice.send("MODE #room +m")
    alice.send("TOPIC #room :new")
    alice.send("MODE #room +b x!*@*")
    reg = reloaded(world).get("#room")
    assert reg is not None
    assert "m" in reg.state.flags and reg.state.topic == "new"
    assert reg.state.lists["b"][0][0] == "x!*@*"
    alice.send("MODE #room -b x!*@*")
    reg = reloaded(world).get("#room")
    assert reg is not None and "b" not in reg.state.lists


def test_rank_changes_do_not_write(world: CSWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = founded(world)
    bob = world.client("bob")
    bob.send("JOIN #room")
    writes: list[object] = []
    monkeypatch.setattr(world.registrations, "save_state", lambda *a: writes.append(a))
    alice.send("MODE #room +v bob")
    alice.send("PRIVMSG #room :hello")
    assert writes == []


# -- MLOCK and TOPICLOCK


def test_mlock_reverts_changes(world: CSWorld) -> None:
    alice = founded(world)
    assert cs(alice.send("CS SET #room MLOCK +ntk-si sesame")) == [
        "Mode lock of #room is now +knt-is sesame."
    ]
    place = world.places.places["#room"]
    assert place.key == "sesame"
    out = alice.send("MODE #room +s-n")
    assert modes(out) == [["#room", "+s-n"], ["#room", "+n-s"]]
    assert "s" not in place.flags and "n" in place.flags
    alice.send("MODE #room -k *")
    assert place.key == "sesame"
    alice.send("MODE #room +m")
    assert "m" in place.flags  # not locked
    assert cs(alice.send("CS SET #room MLOCK +q")) == ["These modes cannot be locked: q"]
    assert cs(alice.send("CS SET #room MLOCK +r")) == ["These modes cannot be locked: r"]
    assert cs(alice.send("CS SET #room MLOCK +l zero")) == [
        "The limit (+l) must be a positive number."
    ]
    assert cs(alice.send("CS SET #room MLOCK +f nope")) == [
        "The flood limit (+f) must be LINES:SECONDS or kLINES:SECONDS."
    ]
    assert cs(alice.send("CS SET #room MLOCK +k")) == [
        "The key (+k) must be 1 to 23 characters without spaces or commas."
    ]
    out = alice.send("CS SET #room MLOCK +l-f 50")
    assert place.limit == 50 and cs(out) == ["Mode lock of #room is now +l-f 50."]
    reg = reloaded(world).get("#room")
    assert reg is not None and reg.mlock == "+l-f 50" and reg.state.limit == 50
    assert cs(alice.send("CS SET #room MLOCK OFF")) == ["Mode lock of #room is now off."]
    alice.send("MODE #room -l")
    assert place.limit == 0
    bob = world.registered("bob")
    assert cs(bob.send("CS SET #room MLOCK +i")) == [
        "Access denied: you need admin access to #room to change the mode lock."
    ]
    assert cs(alice.send("CS SET #room COLOUR red")) == ["Unknown setting COLOUR. Try HELP SET."]


def test_topiclock_reverts_topics_from_below_op_level(world: CSWorld) -> None:
    alice = founded(world)
    world.registered("hop")
    world.registered("opr")
    alice.send("CS ACCESS #room ADD hop HALFOP")
    alice.send("CS ACCESS #room ADD opr OP")
    alice.send("TOPIC #room :original")
    assert cs(alice.send("CS TOPICLOCK #room ON")) == ["Topic lock of #room is now ON."]
    hop_client = world.client("hopper")
    hop_client.send("NS IDENTIFY hop secret-pw")
    hop_client.send("JOIN #room")
    place = world.places.places["#room"]
    assert "h" in place.member_by_nick("hopper").modes  # type: ignore[union-attr]
    out = hop_client.send("TOPIC #room :vandalism")
    topics = [m.params[-1] for m in out if m.command == "TOPIC"]
    assert topics == ["vandalism", "original"]
    assert cs(out) == ["The topic of #room is locked (TOPICLOCK): only its ops may change it."]
    assert place.topic == "original" and place.topic_setter.startswith("alice!")
    opr = world.client("opper")
    opr.send("NS IDENTIFY opr secret-pw")
    opr.send("JOIN #room")
    opr.send("TOPIC #room :by an op")
    assert place.topic == "by an op"
    reg = reloaded(world).get("#room")
    assert reg is not None and reg.topiclock and reg.state.topic == "by an op"
    assert cs(alice.send("CS SET #room TOPICLOCK OFF")) == ["Topic lock of #room is now OFF."]
    hop_client.send("TOPIC #room :free")
    assert place.topic == "free"
    assert cs(alice.send("CS TOPICLOCK #room maybe")) == ["Syntax: TOPICLOCK <#channel> ON|OFF"]


# -- OP DEOP VOICE DEVOICE KICK BAN UNBAN


def test_op_deop_voice_devoice(world: CSWorld) -> None:
    alice = founded(world)
    bob = world.registered("bob")
    carol = world.registered("carol")
    alice.send("CS ACCESS #room ADD bob OP NOAUTO")
    alice.send("CS ACCESS #room ADD carol VOICE NOAUTO")
    bob.send("JOIN #room")
    carol.send("JOIN #room")
    assert modes(bob.send("CS OP #room")) == [["#room", "+o", "bob"]]
    assert modes(bob.send("CS VOICE #room carol")) == [["#room", "+v", "carol"]]
    assert modes(bob.send("CS DEVOICE #room carol")) == [["#room", "-v", "carol"]]
    assert modes(carol.send("CS VOICE #room")) == [["#room", "+v", "carol"]]
    assert cs(carol.send("CS OP #room")) == [
        "Access denied: you need op access to #room to give +o."
    ]
    assert cs(carol.send("CS VOICE #room bob")) == [
        "Access denied: you need halfop access to #room to give +v to others."
    ]
    assert modes(carol.send("CS DEVOICE #room")) == [["#room", "-v", "carol"]]
    assert cs(bob.send("CS DEOP #room alice")) == ["You may not do that to alice."]
    assert modes(alice.send("CS DEOP #room bob")) == [["#room", "-o", "bob"]]
    # without a channel: every registered channel the nick is in
    assert modes(bob.send("CS OP")) == [["#room", "+o", "bob"]]
    assert cs(bob.send("CS OP #room nobody")) == ["nobody is not in #room."]
    lonely = world.client("lonely")
    assert cs(lonely.send("CS VOICE")) == [
        "lonely is in no registered channel: VOICE #channel [nick]"
    ]
    assert cs(lonely.send("CS OP #elsewhere")) == ["#elsewhere is not registered."]
    # nothing to change: no MODE
    assert modes(bob.send("CS OP #room")) == []


def test_status_that_is_already_so_is_said_and_sets_no_mode(world: CSWorld) -> None:
    """OP/VOICE of somebody who already has it, DEOP/DEVOICE of somebody who has not:
    a NOTICE from ChanServ says so, and no MODE goes to anybody."""
    alice = founded(world)
    bob = world.client("bob")
    bob.send("JOIN #room")
    alice.send("CS VOICE #room bob")
    bob.clear()
    said = {
        "CS OP #room": "alice is already an operator on #room.",
        "CS OP #room alice": "alice is already an operator on #room.",
        "CS VOICE #room bob": "bob is already voiced on #room.",
        "CS DEOP #room bob": "bob is not an operator on #room.",
        "CS DEVOICE #room alice": "alice is not voiced on #room.",
    }
    for command, text in said.items():
        out = alice.send(command)
        assert [m.format() for m in out] == [
            f":ChanServ!ChanServ@services.int NOTICE alice :{text}"
        ], command
    assert bob.take() == []
    out = bob.send("CS DEVOICE #room")  # one's own: anybody may, and it is done
    assert [m.format() for m in out] == [":ChanServ!ChanServ@services.int MODE #room -v bob"]
    assert [m.format() for m in bob.send("CS DEVOICE #room")] == [
        ":ChanServ!ChanServ@services.int NOTICE bob :bob is not voiced on #room."
    ]


def test_kick_through_chanserv(world: CSWorld) -> None:
    alice = founded(world)
    bob = world.registered("bob")
    alice.send("CS ACCESS #room ADD bob HALFOP")
    bob.send("JOIN #room")
    troll = world.client("troll")
    troll.send("JOIN #room")
    out = bob.send("CS KICK #room troll be nice")
    kick = next(m for m in out if m.command == "KICK")
    assert kick.source == "ChanServ!ChanServ@services.int"
    assert kick.params == ["#room", "troll", "be nice (bob)"]
    assert cs(bob.send("CS KICK #room alice")) == ["You may not kick alice."]
    assert cs(bob.send("CS KICK #room ghost")) == ["ghost is not in #room."]
    assert cs(troll.send("CS KICK #room bob")) == ["You must be logged in to kick."]


def test_ban_and_unban(world: CSWorld) -> None:
    alice = founded(world)
    troll = world.client("troll")
    troll.send("JOIN #room")
    out = alice.send("CS BAN #room troll spamming")
    assert modes(out) == [["#room", "+b", "*!*@127.0.0.1"]]
    assert next(m for m in out if m.command == "KICK").params == [
        "#room",
        "troll",
        "spamming (alice)",
    ]
    assert cs(out) == ["*!*@127.0.0.1 is banned from #room (1 kicked)."]
    assert cs(alice.send("CS BAN #room nobody")) == [
        "nobody is not in #room and is not a ban mask."
    ]
    out = alice.send("CS BAN #room spam*!*@*")
    assert modes(out) == [["#room", "+b", "spam*!*@*"]]
    assert cs(alice.send("CS UNBAN #room spam*")) == [
        "Removed 1 ban(s) matching spam*!*@* from #room."
    ]
    # A banned user with voice access unbans themself.
    world.registered("bob")
    alice.send("CS ACCESS #room ADD bob VOICE")
    assert cs(troll.send("CS UNBAN #room")) == ["You must be logged in to unban."]
    bobs = world.client("bob2")
    bobs.send("NS IDENTIFY bob secret-pw")
    assert bobs.send("JOIN #room")[0].command == "474"
    assert cs(bobs.send("CS UNBAN #room")) == ["Removed 1 ban(s) matching you from #room."]
    assert "JOIN" in cmds(bobs.send("JOIN #room"))
    assert cs(bobs.send("CS UNBAN #room")) == ["No bans on #room match you."]
    assert cs(bobs.send("CS UNBAN #room alice")) == [
        "Access denied: you need halfop access to #room to unban."
    ]
    assert cs(alice.send("CS UNBAN #room ghost")) == ["ghost is not in #room; give a ban mask."]


# -- TRANSFER and DROP


def test_transfer_is_founder_only_and_durable(world: CSWorld) -> None:
    alice = founded(world)
    bob = world.registered("bob")
    bob.send("JOIN #room")
    assert cs(bob.send("CS TRANSFER #room bob")) == [
        "Access denied: only the founder may transfer #room."
    ]
    assert cs(alice.send("CS TRANSFER #room nobody")) == ["nobody is not a registered account."]
    assert cs(alice.send("CS TRANSFER #room alice")) == ["alice already is the founder of #room."]
    out = alice.send("CS TRANSFER #room bob")
    assert cs(out) == ["bob is now the founder of #room."]
    assert modes(out) == [["#room", "-q", "alice"], ["#room", "+q", "bob"]]
    reg = reloaded(world).get("#room")
    assert reg is not None and reg.founder == "bob"
    assert cs(alice.send("CS DROP #room")) == ["Access denied: only the founder may drop #room."]


def test_drop_needs_the_confirmation_code(world: CSWorld) -> None:
    alice = founded(world)
    out = cs(alice.send("CS DROP #room"))
    assert len(out) == 1 and out[0].startswith("This drops #room with its settings")
    code = out[0].rsplit(" ", 1)[1]
    assert cs(alice.send("CS DROP #room 00000000")) == [
        "Wrong confirmation code; #room was not dropped."
    ]
    out2 = alice.send(f"CS DROP #room {code}")
    assert cs(out2) == ["#room has been dropped."]
    assert modes(out2) == [["#room", "-r"]]
    assert reloaded(world).get("#room") is None
    assert world.registrations.get("#room") is None
    alice.send("PART #room")
    assert world.places.places.get("#room") is None  # no longer kept


def test_dropping_an_empty_channel_removes_it(world: CSWorld) -> None:
    alice = founded(world)
    alice.send("PART #room")
    code = cs(alice.send("CS DROP #room"))[0].rsplit(" ", 1)[1]
    alice.send(f"CS DROP #room {code}")
    assert world.places.places.get("#room") is None


def test_founder_account_drop_passes_the_channel_on(world: CSWorld) -> None:
    alice = founded(world, "#one")
    alice.send("JOIN #two")
    alice.send("CS REGISTER #two")
    world.registered("adm")
    world.registered("opr")
    world.registered("vox")
    alice.send("CS ACCESS #one ADD vox VOICE")
    alice.send("CS ACCESS #one ADD opr OP")
    alice.send("CS ACCESS #one ADD adm ADMIN")
    alice.send("CS ACCESS #two ADD vox VOICE")
    alice.send("NS DROP secret-pw")
    one = reloaded(world).get("#one")
    assert one is not None and one.founder == "adm" and "adm" not in one.access
    assert reloaded(world).get("#two") is None
    # The dropped account's entries elsewhere go too.
    world.registered("zed")
    adm = world.client("adm2")
    adm.send("NS IDENTIFY adm secret-pw")
    adm.send("CS ACCESS #one ADD zed OP")
    zed_fake = world.client("zed2")
    zed_fake.send("NS IDENTIFY zed secret-pw")
    zed_fake.send("NS DROP secret-pw")
    one = reloaded(world).get("#one")
    assert one is not None and "zed" not in one.access


def test_start_settles_founders_that_disappeared(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite3"
    world = CSWorld(path=path)
    alice = founded(world)
    world.registered("bob")
    alice.send("CS ACCESS #room ADD bob OP")
    alice.send("JOIN #solo")
    alice.send("CS REGISTER #solo")
    world.close()
    # A crash between NickServ's delete and ChanServ's hand-over:
    db = sqlite3.connect(path)
    db.execute("DELETE FROM accounts WHERE folded = 'alice'")
    db.commit()
    db.close()
    again = CSWorld(path=path)
    try:
        reg = again.registrations.get("#room")
        assert reg is not None and reg.founder == "bob"
        assert again.registrations.get("#solo") is None
        assert again.places.places.get("#solo") is None
    finally:
        again.close()


# -- INFO, HELP, the service itself


def test_info(world: CSWorld) -> None:
    alice = founded(world)
    alice.send("TOPIC #room :hello")
    alice.send("CS SET #room MLOCK +k sesame")
    guest = world.client("guest")
    assert cs(guest.send("CS INFO #room")) == [
        "Information on #room:",
        "Founder: alice",
        "Registered: 2023-11-14 22:13:20 UTC",
        "Topic lock: off",
        "Mode lock: +k *",
        "Topic: hello",
        "End of information.",
    ]
    out = cs(alice.send("CS INFO #room"))
    assert "Mode lock: +k sesame" in out and "Your access: founder" in out
    assert "Access list: 0 with access, 0 banned" in out
    assert cs(guest.send("CS INFO #nothing")) == ["#nothing is not registered."]


def test_help_for_every_command(world: CSWorld) -> None:
    guest = world.client("guest")
    listing = cs(guest.send("CS HELP"))
    for name in CS.COMMANDS:
        assert any(line.startswith(f"{name} ") for line in listing), name
        out = cs(guest.send(f"CS HELP {name}"))
        assert out[0] == f"Syntax: {CS.COMMANDS[name].syntax}" and len(out) >= 2
    for name in CS.SET_COMMANDS:
        out = cs(guest.send(f"CS HELP {name}"))
        assert out[0] == f"Syntax: {CS.SET_COMMANDS[name].syntax}" and len(out) >= 2
    assert cs(guest.send("CS HELP FROB")) == ["No help for FROB."]


def test_the_service_as_a_user(world: CSWorld) -> None:
    guest = world.client("guest")
    assert cs(guest.send("CHANSERV FROB")) == [
        "Unknown command FROB. Type /msg ChanServ HELP for help."
    ]
    assert cs(guest.send("PRIVMSG ChanServ :\x01VERSION\x01")) == []
    assert guest.send("NICK chanserv")[0].command == "433"
    whois = guest.send("WHOIS ChanServ")
    assert next(m for m in whois if m.command == "311").params[1:4] == [
        "ChanServ",
        "ChanServ",
        "services.int",
    ]
    assert cs(guest.send("CS SET #room")) == [
        "Not enough parameters. Syntax: SET <#channel> TOPICLOCK ON|OFF "
        "| SET <#channel> MLOCK <modes>|OFF"
    ]
    world.chanserv.receive(Packet("_error_place_target_membership", {"_source": "x"}))


def test_commands_about_channels_homed_elsewhere_are_forwarded(world: CSWorld) -> None:
    other = Recorder("psyc://other.example/$chanserv")
    world.router.register(other)
    world.chanserv.home = lambda channel: "other.example" if channel == "#far" else world.core.name
    alice = world.registered("alice")
    assert cs(alice.send("CS INFO #far")) == []
    packet = other.take()[0]
    assert packet.method == "_message_private" and packet.body == "INFO #far"
    assert packet.source == alice.client.uniform and packet.get("_account") == "alice"
    assert packet.get("_flag_forwarded") == "1"
    # Forwarded here by mistake: answered, never sent on again.
    packet.routing["_target"] = world.chanserv.uniform
    world.router.send(packet)
    assert other.take() == []
    assert cs(alice.take()) == ["#far is not registered."]


def test_levels_parse() -> None:
    assert parse_level("AOP") == 2 and parse_level("akick") == 9 and parse_level("x") is None


def test_state_json_round_trip_and_garbage() -> None:
    state = ChannelState("imnt", "k", 5, "k3:4", {"b": [("a!*@*", "me", 1)]}, "t", "s", 2)
    assert ChannelState.from_json(state.to_json()) == state
    assert ChannelState.from_json("not json") == ChannelState()
    assert ChannelState.from_json("[1]") == ChannelState()


def test_config_keys_exist() -> None:
    config = services_config(chanserv_max_channels=3, chanserv_max_access=7)
    assert config.services.chanserv_max_channels == 3
    assert dataclasses.asdict(config.services)["chanserv_max_access"] == 7


def test_an_entry_from_nobody_does_not_remove_an_empty_registered_channel(world: CSWorld) -> None:
    alice = founded(world)
    alice.send("PART #room")
    place = world.places.places["#room"]
    world.router.send(
        Packet(
            "_request_enter",
            {"_source": "psyc://irc.localhost/~ghost", "_target": place.uniform},
            {"_nick": "ghost", "_nick_place": "#room"},
        )
    )
    assert world.places.places.get("#room") is place


def test_registration_homed_elsewhere_after_a_network_change_is_not_recreated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data.sqlite3"
    world = CSWorld(path=path)
    founded(world)
    world.close()
    again = ServicesWorld(path=path)  # ChanServ wired by hand: its home lookup differs
    try:
        chanserv = CS.ChanServ(
            again.core.router,
            again.core.name,
            again.core.places,
            ChannelRegistrations(again.store, again.clock),
            again.accounts,
            again.clock,
            lambda: again.core.config.services,
        )
        chanserv.home = lambda channel: "other.example.org"
        chanserv.start()
        assert "#room" not in again.places.places
        assert '[channels.pin] "#room"' in caplog.text
    finally:
        again.close()


def test_rename_keeps_the_registration_access_list_and_home(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite3"
    world = CSWorld(path=path)
    world.registered("bob")
    alice = founded(world, "#old")
    alice.send("CS ACCESS #old ADD bob OP")
    # As if the new name hashed to another server: the registration says it stays here.
    world.chanserv.hashed_home = lambda channel: "elsewhere.test"
    out = alice.send("RENAME #old #New :moving")
    assert [m.params for m in out if m.command == "PART"] == [["#old", "moving"]]
    assert world.registrations.get("#old") is None
    reg = reloaded(world).get("#new")
    assert reg is not None and reg.name == "#New" and reg.founder == "alice"
    assert reg.level_of("bob") == parse_level("op")
    assert reg.state.home == world.core.name.lower()
    assert cs(alice.send("CS INFO #new"))[0].startswith("Information on #New")
    world.close()
    again = CSWorld(path=path)
    try:
        place = again.places.places.get("#new")
        assert place is not None and place.name == "#New" and "r" in place.flags
        assert again.places.places.get("#old") is None
    finally:
        again.close()


def test_only_the_founder_renames_a_registered_channel(world: CSWorld) -> None:
    bob = world.registered("bob")
    alice = founded(world, "#mine")
    alice.send("CS ACCESS #mine ADD bob OP")
    bob.send("JOIN #mine")
    fails = [m.params for m in bob.send("RENAME #mine #yours") if m.command == "FAIL"]
    assert fails == [
        ["RENAME", "CANNOT_RENAME", "#mine", "#yours", "Only the founder (alice) may rename "
         "a registered channel"]
    ]  # fmt: skip
    carol = world.client("carol")
    carol.send("JOIN #taken")
    fails = [m.params for m in alice.send("RENAME #mine #taken") if m.command == "FAIL"]
    assert fails[0][:4] == ["RENAME", "CHANNEL_NAME_IN_USE", "#mine", "#taken"]
