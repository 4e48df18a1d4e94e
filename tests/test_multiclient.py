"""Several sessions of one person, sans-IO: attaching, AWAY across sessions,
copies of what one session says, and the directory's account index."""

from __future__ import annotations

from account_helpers import ServicesWorld, fast_hash, plain
from helpers import FakeClient

from ircpsyc.services.accounts import Accounts

PASSWORD = "secret-pw"


def attach(world: ServicesWorld, account: str, *caps: str, away: str = "") -> FakeClient:
    """A second connection that logs in with `PASS account@device:password`."""
    fake = world.connect()
    if caps:
        fake.send("CAP LS 302")
        fake.send(f"CAP REQ :{' '.join(caps)}")
    fake.send(f"PASS {account}@tablet:{PASSWORD}")
    if away:
        fake.send(f"AWAY :{away}")
    fake.send("NICK someone-else")
    fake.send("USER t 0 * :Tablet")
    if caps:
        fake.send("CAP END")
    return fake


def test_attach_by_pass_keeps_the_device_and_indexes_the_account() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", PASSWORD)
    tablet = attach(world, "alice")
    lines = tablet.lines
    assert [m.params[0] for m in lines if m.command == "001"] == ["alice"]
    assert tablet.client is alice.client
    assert alice.client.sessions == (alice.session, tablet.session)
    assert tablet.session.device == "tablet" and alice.session.device == ""
    assert world.core.persons.account_person("ALICE") is alice.client
    assert "someone-else" not in world.core.reserved  # the NICK it asked for is not held
    tablet.send("QUIT :bye")
    assert world.core.find("alice") is alice.client  # the person stays with one session
    alice.send("QUIT :bye")
    assert world.core.find("alice") is None
    assert world.core.persons.account_person("alice") is None


def test_away_is_the_aggregate_of_the_sessions() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", PASSWORD)
    alice.send("AWAY :lunch")
    world.advance(1)
    tablet = attach(world, "alice", "draft/pre-away", away="*")
    person = alice.client
    assert person.away == "lunch"  # `*` never hides a stated message, even a newer one
    world.advance(1)
    tablet.send("AWAY :meeting")
    assert person.away == "meeting"  # the newest stated message
    alice.send("AWAY")
    assert person.away == ""  # one session is present: so is the person
    alice.send("AWAY *")
    tablet.send("AWAY *")
    assert person.away == "*"
    tablet.send("QUIT")
    alice.send("AWAY")
    assert person.away == ""


def test_a_private_line_is_copied_to_the_other_sessions_not_to_services() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", PASSWORD)
    tablet = attach(world, "alice", "echo-message")
    bob = world.client("bob")
    alice.clear()
    tablet.clear()
    echo = tablet.send("PRIVMSG bob :hi bob")
    assert [m.params for m in alice.take() if m.command == "PRIVMSG"] == [["bob", "hi bob"]]
    assert [m.params for m in echo if m.command == "PRIVMSG"] == [["bob", "hi bob"]]
    assert [m.params for m in bob.take() if m.command == "PRIVMSG"] == [["bob", "hi bob"]]
    tablet.send("PRIVMSG NickServ :INFO")
    assert not [m for m in alice.take() if m.command == "PRIVMSG"]


def test_channel_lines_labels_and_the_join_burst_per_session() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", PASSWORD)
    bob = world.client("bob")
    world.channel("#team", alice, bob)
    tablet = attach(world, "alice", "echo-message", "labeled-response", "extended-join")
    burst = tablet.lines
    joins = [m for m in burst if m.command == "JOIN"]
    assert [m.params for m in joins] == [["#team", "alice", "Real Name"]]  # extended-join
    assert any(m.command == "353" and "bob" in m.params[-1] for m in burst)
    assert not [m for m in bob.take() if m.command == "JOIN"]
    alice.clear()

    echo = tablet.send("@label=x1 PRIVMSG #team :from the tablet")
    assert [(m.tags or {}).get("label") for m in echo if m.command == "PRIVMSG"] == ["x1"]
    copy = [m for m in alice.take() if m.command == "PRIVMSG"]
    assert [m.params for m in copy] == [["#team", "from the tablet"]]
    assert "label" not in (copy[0].tags or {})  # labels are the sender's session's
    assert [m.params for m in bob.take() if m.command == "PRIVMSG"] == [
        ["#team", "from the tablet"]
    ]
    # The laptop (no echo-message) sees no echo of its own line; the tablet a copy.
    assert not [m for m in alice.send("PRIVMSG #team :from the laptop") if m.command == "PRIVMSG"]
    assert [m.params for m in tablet.take() if m.command == "PRIVMSG"] == [
        ["#team", "from the laptop"]
    ]


def test_set_multiclient_is_kept_with_the_account() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", PASSWORD)
    out = alice.send("NS SET MULTICLIENT OFF")
    assert any("OFF" in m.params[-1] for m in out if m.command == "NOTICE")
    again = Accounts(world.store, lambda: world.core.config.services, world.clock, fast_hash)
    record = again.get("alice")
    assert record is not None and record.multiclient is False
    tablet = attach(world, "alice")  # asks for someone-else: a person of its own
    assert tablet.nick == "someone-else" and tablet.client is not alice.client
    assert alice.send("NS SET MULTICLIENT maybe")[-1].params[-1] == "Syntax: SET MULTICLIENT ON|OFF"


def test_sasl_plain_with_a_device_attaches() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", PASSWORD)
    phone = world.connect()
    phone.send("CAP LS 302")
    phone.send("CAP REQ :sasl")
    phone.send("NICK alice")  # before logging in: 433, the nick is the person's
    phone.send("USER p 0 * :Phone")
    phone.send("AUTHENTICATE PLAIN")
    out = phone.send("AUTHENTICATE " + plain("alice@phone", PASSWORD))
    assert "903" in [m.command for m in out]
    welcome = phone.send("CAP END")
    assert [m.params[0] for m in welcome if m.command == "001"] == ["alice"]
    assert phone.session.device == "phone" and phone.client is alice.client
