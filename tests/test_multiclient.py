"""Several sessions of one person, sans-IO: attaching, AWAY across sessions,
copies of what one session says, and the directory's account index."""

from __future__ import annotations

from account_helpers import ServicesWorld
from helpers import FakeClient

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
    assert alice.client.sessions == [alice.session, tablet.session]
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
