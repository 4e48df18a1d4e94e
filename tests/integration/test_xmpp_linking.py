"""The MUC gateway on a server that is not the channel's home: a real Prosody, two
linked ircpsyc processes, the gateway on the second.  A joining XMPP occupant gets the
history said at the home (asked from the home's `$history`, as IRC's JOIN replay is),
then the subject, then live lines."""

from __future__ import annotations

from typing import Any

from conftest import ServerFactory

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .prosody import DELAY, XmppClient, close_all, find, start_prosody, tag, text_of, xmpp_settings
from .support import RawClient, aio
from .test_history_replay import FULL, talk


class GatewayOnSecond(LinkedNetwork):
    """Two linked servers; the second one is Prosody's component."""

    def __init__(self, factory: ServerFactory, xmpp: dict[str, Any]) -> None:
        super().__init__(factory, 2, [(0, 1)])
        self.xmpp = xmpp

    def extra(self, name: str) -> dict[str, Any]:
        extra = super().extra(name)
        if name == self.names[1]:
            extra["xmpp"] = self.xmpp
        return extra


@aio
async def test_xmpp_occupant_gets_the_history_of_a_channel_homed_elsewhere(
    factory: ServerFactory,
) -> None:
    prosody = start_prosody(factory.directory / "prosody")
    try:
        net = GatewayOnSecond(factory, xmpp_settings(prosody))
        net.start()
        await net.wait_converged()
        home, gateway_server = net.names
        net.servers[gateway_server].wait_for_log("component irc.localhost is connected", 15)
        channel = next(f"#xh{i}" for i in range(1000) if rendezvous(f"#xh{i}", net.names) == home)
        alice = await RawClient.connect(net.port(home))
        await alice.register("alice", caps=FULL)
        await alice.send(f"JOIN {channel}", f"TOPIC {channel} :kept at the home")
        await alice.expect("TOPIC", timeout=10.0)
        echoes = await talk(alice, channel, 6)

        bob = await XmppClient.connect(prosody)
        room = f"{channel[1:].lower()}@irc.localhost"
        got = await bob.join(room, "bob", "<history maxstanzas='4'/>")
        history = [e for e in got if e.tag == tag("message") and find(e, "body") is not None]
        assert [text_of(e, "body") for e in history] == [f"line {i}" for i in range(2, 6)]
        assert all(e.get("from") == f"{room}/alice" for e in history)
        assert all(find(e, "delay", DELAY) is not None for e in history)
        ids = [e.tags["msgid"] for e in echoes[2:]]  # type: ignore[index]
        assert [find(e, "stanza-id", "urn:xmpp:sid:0").get("id") for e in history] == ids  # type: ignore[union-attr]
        assert text_of(got[-1], "subject") == "kept at the home"
        # Live lines after the join sequence, once.
        await alice.send(f"PRIVMSG {channel} :live")
        heard = await bob.expect(
            lambda e: e.tag == tag("message") and text_of(e, "body") == "live", what="live"
        )
        assert find(heard, "delay", DELAY) is None
    finally:
        await close_all()
        prosody.stop()
