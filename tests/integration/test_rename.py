"""draft/channel-rename through the real server: RENAME keeps members, modes,
lists, topic, registration and history under the new name; clients without the
capability see PART and JOIN; the old name answers with the new one for a while;
on two linked servers the renamed channel stays on its home."""

from __future__ import annotations

import asyncio
import signal

from conftest import OPER_NAME, OPER_PASSWORD, ServerFactory, ServerProcess, ServerStarter

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered, find, unique
from .test_history_replay import FULL, chathistory
from .test_services_chanserv import chanserv_says, registered_user

RENAME_CAP = "draft/channel-rename"
CAPS = [*FULL, RENAME_CAP]


async def joined(client: RawClient, channel: str) -> None:
    await client.send(f"JOIN {channel}")
    await client.expect("366", timeout=10.0)


async def said(client: RawClient, channel: str, text: str) -> None:
    await client.send(f"PRIVMSG {channel} :{text}")
    await client.expect("PRIVMSG", where=lambda m: m.params[-1] == text, timeout=10.0)


@aio
async def test_rename_on_one_server(shared_server: ServerProcess) -> None:
    port = shared_server.port
    old, new, taken = ("#" + unique(p) for p in ("old", "new", "taken"))
    alice = await connect_registered(port, unique("alice"), caps=CAPS)  # the op, with the cap
    bob = await connect_registered(port, unique("bob"), caps=FULL)  # a member without it
    carol = await connect_registered(port, unique("carol"))  # outside
    await joined(alice, old)
    await alice.send(f"TOPIC {old} :kept topic", f"MODE {old} +s", f"MODE {old} +b bad!*@*")
    await alice.expect("MODE", where=lambda m: m.params[1:] == ["+b", "bad!*@*"])
    await joined(bob, old)
    await said(alice, old, "said before the rename")
    await joined(carol, taken)

    # Who may not, and names that will not do.
    await bob.send(f"RENAME {old} {new}")
    assert (await bob.expect("482")).params[1] == old
    await carol.send(f"RENAME {old} {new}")
    assert (await carol.expect("442")).params[1] == old
    await carol.send(f"RENAME #{unique('nowhere')} {new}")
    await carol.expect("403")
    await alice.send(f"RENAME {old} {taken} :why not")
    fail = await alice.expect("FAIL")
    assert fail.params[:4] == ["RENAME", "CHANNEL_NAME_IN_USE", old, taken], fail.format()
    await alice.send(f"RENAME {old} nohash")
    fail = await alice.expect("FAIL")
    assert fail.params[:4] == ["RENAME", "CANNOT_RENAME", old, "nohash"], fail.format()

    # The rename: RENAME with the cap, PART + JOIN + topic + NAMES without.
    await alice.send(f"RENAME {old} {new} :better name")
    rename = await alice.expect("RENAME")
    assert rename.params == [old, new, "better name"]
    assert (rename.source or "").startswith(alice.nick + "!")
    part = await bob.expect("PART")
    assert part.params == [old, "better name"] and (part.source or "").startswith(bob.nick + "!")
    burst = await bob.collect("366")
    assert burst[0].command == "JOIN" and burst[0].params == [new], burst[0].format()
    assert find(burst, "332")[0].params[1:] == [new, "kept topic"]
    names = find(burst, "353")[0].params[-1].split()
    assert sorted(names) == sorted(["@" + alice.nick, bob.nick]), names

    # Modes, lists, topic and history under the new name; the channel still speaks.
    await alice.send(f"MODE {new}", f"MODE {new} +b", f"TOPIC {new}")
    modes = await alice.expect("324")
    assert modes.params[1] == new and "s" in modes.params[2], modes.format()
    bans = await alice.collect("368")
    assert [m.params[2] for m in find(bans, "367")] == ["bad!*@*"]
    assert (await alice.expect("332")).params[1:] == [new, "kept topic"]
    await said(alice, new, "said after")
    await bob.expect("PRIVMSG", where=lambda m: m.params == [new, "said after"])
    _, kept = await chathistory(bob, f"CHATHISTORY LATEST {new} * 10")
    lines = [m.params for m in kept if m.command == "PRIVMSG"]
    assert lines == [[new, "said before the rename"], [new, "said after"]], lines

    # The old name answers with the new one: FAIL with the cap, 470 and JOIN without.
    dave = await connect_registered(port, unique("dave"), caps=CAPS)
    await dave.send(f"JOIN {old}")
    fail = await dave.expect("FAIL")
    assert fail.params[:4] == ["JOIN", "CHANNEL_RENAMED", old, new], fail.format()
    await carol.send(f"JOIN {old}")
    link = await carol.expect("470")
    assert link.params[1:3] == [old, new]
    join = await carol.expect("JOIN")
    assert join.params == [new]
    await alice.expect("JOIN", where=lambda m: (m.source or "").startswith(carol.nick + "!"))

    # A member of the renamed channel who joins the old name opens a new channel
    # there (irctest's test does this), where it is the operator.
    await joined(bob, old)
    await bob.send(f"MODE {old} +k beer")
    mode = await bob.expect("MODE", "482")
    assert mode.command == "MODE" and mode.params == [old, "+k", "beer"], mode.format()

    # Not again so soon (each rename bursts to every member without the cap).
    await alice.send(f"RENAME {new} {old}x")
    fail = await alice.expect("FAIL")
    assert fail.params[:4] == ["RENAME", "CANNOT_RENAME", new, old + "x"], fail.format()
    # Only the case changes (allowed at once): RENAME with the cap, nothing without.
    shout = new.upper()
    await alice.send(f"RENAME {new} {shout}")
    rename = await alice.expect("RENAME")
    assert rename.params == [new, shout, ""]
    lines = await bob.sync()
    assert not [m for m in lines if m.command in ("PART", "JOIN", "RENAME")], lines
    await said(alice, shout, "shouted")
    await bob.expect("PRIVMSG", where=lambda m: m.params[-1] == "shouted")


@aio
async def test_an_operator_renames_a_channel_it_is_not_in(shared_server: ServerProcess) -> None:
    port = shared_server.port
    old, new = "#" + unique("opold"), "#" + unique("opnew")
    alice = await connect_registered(port, unique("alice"), caps=CAPS)
    await joined(alice, old)
    oper = await connect_registered(port, unique("oper"), caps=CAPS)
    await oper.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await oper.expect("381")
    await oper.sync()  # the oper-up lines (MODE +o) are read
    await oper.send(f"RENAME {old} {new} :by the staff")
    notice = await alice.expect("NOTICE", where=lambda m: "override" in m.params[-1])
    assert f"RENAME {old} {new}" in notice.params[-1]
    rename = await alice.expect("RENAME")
    assert rename.params == [old, new, "by the staff"]
    assert (rename.source or "").startswith(oper.nick + "!")
    # The operator, not in the channel, is told it was done (no RENAME: it has no such
    # channel), and a refusal by the channel reaches it too.
    done = await oper.sync()
    assert [m.format() for m in done] == [
        f":{shared_server.name} NOTICE {oper.nick} :Channel {old} renamed to {new}"
    ]
    await oper.send(f"RENAME {new} {new}")
    fail = await oper.sync()
    assert [m.format() for m in fail] == [
        f":{shared_server.name} FAIL RENAME CANNOT_RENAME {new} {new} :That is not a new channel"
        " name"
    ]


@aio
async def test_rename_of_a_registered_channel(ircpsyc_server: ServerStarter) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    founder, helper = unique("founder"), unique("helper")
    old, new = "#" + unique("reg"), "#" + unique("regnew")
    alice = await registered_user(first.port, founder, "founder-pw")
    bob = await registered_user(first.port, helper, "helper-pw")
    await joined(alice, old)
    await alice.send(f"CS REGISTER {old}")
    await chanserv_says(alice, "is now registered")
    await alice.send(f"CS ACCESS {old} ADD {helper} OP", f"TOPIC {old} :registered topic")
    await chanserv_says(alice, "added on the access list")
    await joined(bob, old)
    await bob.expect("MODE", where=lambda m: m.params[1:] == ["+o", helper])
    # An op of the access list is no founder.
    await bob.send(f"RENAME {old} {new}")
    fail = await bob.expect("FAIL")
    assert fail.params[:4] == ["RENAME", "CANNOT_RENAME", old, new], fail.format()
    await alice.send(f"RENAME {old} {new} :moved")
    await alice.expect("PART", where=lambda m: m.params[0] == old)
    await alice.expect("366")
    await alice.send(f"CS INFO {new}")
    await chanserv_says(alice, founder)

    first.signal(signal.SIGKILL)
    first.wait(10)
    alice.drop(reset=True)
    bob.drop(reset=True)
    second = ircpsyc_server({"storage": {"path": storage}})
    bob = await connect_registered(second.port, helper)
    await bob.send("NS IDENTIFY helper-pw")
    await bob.expect("900")
    await joined(bob, new)
    mode = await bob.expect("MODE")  # the access list came along
    assert mode.params == [new, "+o", helper], mode.format()
    await bob.send(f"TOPIC {new}")
    assert (await bob.expect("332")).params[-1] == "registered topic"


@aio
async def test_rename_across_two_servers(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    await net.wait_converged()
    home, other = net.names
    old = next(f"#mv{i}" for i in range(1000) if rendezvous(f"#mv{i}", net.names) == home)
    # A new name that hashes to the other server: the channel stays on its home.
    new = next(f"#to{i}" for i in range(1000) if rendezvous(f"#to{i}", net.names) == other)
    alice = await RawClient.connect(net.port(home))
    await alice.register("alice", caps=CAPS)
    bob = await RawClient.connect(net.port(other))
    await bob.register("bob", caps=FULL)  # no rename capability
    carol = await RawClient.connect(net.port(other))
    await carol.register("carol", caps=CAPS)
    await joined(alice, old)
    await alice.send(f"TOPIC {old} :linked topic", f"MODE {old} +m")
    await alice.expect("MODE", where=lambda m: m.params[1:] == ["+m"])
    for person in (bob, carol):
        await joined(person, old)
    await said(alice, old, "before, from the home")

    await carol.send(f"RENAME {old} {new}")  # not an op, on the other server
    assert (await carol.expect("482")).params[1] == old
    await alice.send(f"RENAME {old} {new} :linked rename")
    assert (await alice.expect("RENAME")).params == [old, new, "linked rename"]
    assert (await carol.expect("RENAME")).params == [old, new, "linked rename"]
    assert (await bob.expect("PART")).params == [old, "linked rename"]
    burst = await bob.collect("366")
    assert burst[0].params == [new] and find(burst, "332")[0].params[-1] == "linked topic"

    # The other server's view follows: modes, and the channel speaks both ways.
    await bob.send(f"MODE {new}")
    assert "m" in (await bob.expect("324")).params[2]
    await alice.send(f"MODE {new} +v carol")
    await carol.expect("MODE", where=lambda m: m.params == [new, "+v", "carol"])
    await said(carol, new, "from the other server")
    await alice.expect("PRIVMSG", where=lambda m: m.params == [new, "from the other server"])
    # History at the home, asked from the other server, has the lines under the new name.
    _, kept = await chathistory(bob, f"CHATHISTORY LATEST {new} * 10")
    texts = [m.params for m in kept if m.command == "PRIVMSG"]
    assert texts == [[new, "before, from the home"], [new, "from the other server"]], texts

    # A newcomer on the other server reaches the channel at its home, by the new name.
    dave = await RawClient.connect(net.port(other))
    await dave.register("dave", caps=CAPS)
    await dave.send(f"JOIN {new}")
    names = await dave.collect("366", timeout=10.0)
    members = sorted(find(names, "353")[0].params[-1].split())
    assert members == ["+carol", "@alice", "bob", "dave"], members
    await alice.expect("JOIN", where=lambda m: (m.source or "").startswith("dave!"))
    # And a JOIN of the old name there is told the new one.
    erin = await RawClient.connect(net.port(other))
    await erin.register("erin", caps=CAPS)
    await erin.send(f"JOIN {old}")
    fail = await erin.expect("FAIL", timeout=10.0)
    assert fail.params[:4] == ["JOIN", "CHANNEL_RENAMED", old, new], fail.format()
    # The name in use on the other server cannot be taken.
    taken = next(f"#tk{i}" for i in range(1000) if rendezvous(f"#tk{i}", net.names) == other)
    await joined(erin, taken)
    for _ in range(100):  # until the home's directory has it
        await alice.send(f"LIST {taken}")
        if find(await alice.collect("323"), "322"):
            break
        await asyncio.sleep(0.1)  # the directory casts what changed once a tick
    await alice.send(f"RENAME {new} {taken}")
    fail = await alice.expect("FAIL", timeout=10.0)
    assert fail.params[:4] == ["RENAME", "CHANNEL_NAME_IN_USE", new, taken], fail.format()
