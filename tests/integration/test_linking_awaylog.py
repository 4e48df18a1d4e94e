"""Two real servers: the away log follows the account.  Private messages to an
offline account homed on the first server, sent on either, are kept at the home and
shown when the account logs in on the second (chathistory batches with the original
times), then read there."""

from __future__ import annotations

from conftest import ServerFactory

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered, unique
from .test_history_replay import FULL
from .test_linking_accounts import eventually


def test_message_to_an_offline_account_is_shown_where_it_logs_in(
    factory: ServerFactory,
) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    home, other = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        account = net.homed(home, "bob")
        owner = await connect_registered(net.port(home), account)
        await owner.send("PRIVMSG NickServ :REGISTER pass-word!")
        assert (await owner.expect("900", timeout=10.0)).params[2] == account
        await owner.send("PRIVMSG NickServ :SET ALWAYS-ON OFF")  # offline when it quits
        await owner.expect("NOTICE", where=lambda m: "Always-on" in m.params[-1])
        await owner.quit()
        await eventually(net.port(other), account, "pass-word!", "903")  # copied there

        # One line sent on the home, one on the other server: both are kept at the home.
        carol = await connect_registered(net.port(home), unique("carol"))
        dave = await connect_registered(net.port(other), unique("dave"))
        for sender, text in ((carol, "kept for you at home"), (dave, "and from over here")):
            await sender.send(f"PRIVMSG {account} :{text}")
            note = await sender.expect(
                "NOTICE", where=lambda m: "recorded" in m.params[-1], timeout=10.0
            )
            assert account in note.params[-1]

        bob = await RawClient.connect(net.port(other))
        await bob.register(account, caps=FULL)
        await bob.send(f"PRIVMSG NickServ :IDENTIFY {account} pass-word!")
        await bob.expect("900", timeout=10.0)
        got = []
        for sender in (carol, dave):
            start = await bob.expect(
                "BATCH", where=lambda m: m.params[0].startswith("+"), timeout=10.0
            )
            assert start.params[1:] == ["chathistory", sender.nick]
            line = await bob.expect("PRIVMSG", timeout=10.0)
            assert line.source is not None and line.source.startswith(sender.nick + "!")
            assert line.tags is not None and "time" in line.tags and "msgid" in line.tags
            got.append(line.params)
            end = "-" + start.params[0][1:]
            await bob.expect("BATCH", where=lambda m, end=end: m.params[0] == end)
        assert got == [[account, "kept for you at home"], [account, "and from over here"]]

        # Read at the home: AWAYLOG LIST on the other server counts it as read.
        await bob.send("AWAYLOG LIST")
        listing = await bob.expect(
            "NOTICE", where=lambda m: m.params[-1].startswith("Away log:"), timeout=10.0
        )
        assert listing.params[-1] == "Away log: 2 kept, 0 unread."

    run()
