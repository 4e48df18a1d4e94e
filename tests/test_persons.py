"""The persons layer on its own: no front-end, no sockets (ircpsyc/persons/).

A person is a record with sessions kept apart from it; these tests give it
plain `Location`s, as a front-end would, and check what the local directory
and the network roster's collision rule decide.
"""

from __future__ import annotations

from typing import Any

from helpers import make_config

from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.persons.directory import PersonDirectory
from ircpsyc.persons.person import Person, PersonObserver
from ircpsyc.persons.roster import RemotePerson, loses
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import person

HOST = "irc.example.org"
NOW = 1_700_000_000.0


class Device:
    """A session as a front-end provides it: it only collects what it is sent."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.out: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.out.append(data)


class Watcher(Person):
    """A person whose front-end shows MONITOR events as text."""

    __slots__ = ("events",)

    def __init__(self, directory: PersonDirectory[Any, Any], nick: str) -> None:
        super().__init__(directory, person(HOST, nick), nick, nick, "h", nick, "10.0.0.9", NOW)
        self.events: list[str] = []

    def watched_online(self, found: Person) -> None:
        self.events.append("online " + found.prefix)

    def watched_offline(self, nick: str) -> None:
        self.events.append("offline " + nick)


class Log(PersonObserver[Person, Any]):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def person_online(self, client: Person) -> None:
        self.seen.append(f"online {client.nick}")

    def person_renamed(self, client: Person, old_nick: str) -> None:
        self.seen.append(f"renamed {old_nick} -> {client.nick}")

    def person_offline(self, client: Person) -> None:
        self.seen.append(f"offline {client.nick}")


def directory() -> PersonDirectory[Person, Device]:
    router = Router(HOST)
    places = PlaceRegistry(router, HOST, make_config(), lambda: NOW)
    return PersonDirectory(HOST, router, places, lambda: NOW)


def online(persons: PersonDirectory[Person, Device], nick: str, *devices: Device) -> Person:
    """What a front-end does as a session registers: the person in the directory."""
    found = Person(persons, person(HOST, nick), nick, "u", "host.example", nick, "10.0.0.1", NOW)
    found.sessions = (*found.sessions, *devices)
    persons.add(found)
    persons.tell_online(found)
    return found


def test_a_person_with_two_sessions_stays_online_until_the_last_leaves() -> None:
    persons = directory()
    log = Log()
    persons.observers.append(log)
    laptop, phone = Device("laptop.example"), Device("phone.example")
    alice = online(persons, "Alice", laptop, phone)
    assert log.seen == ["online Alice"]
    alice.send(b"hello\r\n")
    assert laptop.out == phone.out == [b"hello\r\n"]
    assert alice.real_host == "laptop.example"

    alice.detach(laptop, "bye")
    assert persons.find("alice") is alice and log.seen == ["online Alice"]
    assert persons.nick_taken("ALICE", phone) is False  # her own session may keep it
    assert persons.nick_taken("ALICE", Device("x")) is True

    alice.detach(phone, "gone")
    assert persons.find("alice") is None
    assert alice.quit_reason == "gone"
    assert log.seen == ["online Alice", "offline Alice"]
    assert persons.whowas[0].nick == "Alice" and persons.whowas[0].server == HOST


def test_monitor_watchers_are_told_through_their_front_end() -> None:
    persons = directory()
    watcher = Watcher(persons, "Wat")
    persons.monitors["bob"] = {watcher}
    watcher.monitoring = {"bob": "Bob"}
    bob = online(persons, "Bob", Device("b.example"))
    bob.rename("Robert")
    bob.quit("done")
    # Only the nick watched: the rename ends it, Robert's quit is not told.
    assert watcher.events == ["online Bob!u@host.example", "offline Bob"]
    persons.unmonitor(watcher, "bob")
    assert "bob" not in persons.monitors and watcher.monitoring == {}


def test_rename_moves_the_person_in_the_directory_and_the_router() -> None:
    persons = directory()
    log = Log()
    persons.observers.append(log)
    carol = online(persons, "Carol", Device("c.example"))
    carol.set_mode("i", True)
    assert persons.mode_counts["i"] == 1
    carol.rename("Caroline")
    assert persons.find("caroline") is carol and persons.find("carol") is None
    assert persons.router.lookup(person(HOST, "Caroline")) is carol
    assert persons.router.lookup(person(HOST, "Carol")) is None
    assert log.seen == ["online Carol", "renamed Carol -> Caroline"]
    assert persons.whowas[0].nick == "Carol"
    carol.quit("x")
    assert persons.mode_counts["i"] == 0


def test_gateway_users_are_found_and_their_nicks_are_never_free() -> None:
    persons = directory()
    user = Person(persons, person(HOST, "jabber"), "jabber", "j", "xmpp.example", "J", "", NOW)
    persons.add_gateway_user(user)
    assert persons.find("JABBER") is user and persons.local_person("jabber") is user
    assert persons.nick_taken("jabber", Device("x"))
    persons.drop_gateway_user(user)
    assert persons.find("jabber") is None
    assert persons.whowas[0].nick == "jabber"


def test_the_nick_collision_rule_is_the_same_on_both_servers() -> None:
    persons = directory()
    local = online(persons, "Dana", Device("d.example"))
    remote = RemotePerson(persons, "b.example", "psyc://b.example/~Dana", {"nick": "Dana"})
    remote.nick_time = 2000
    assert loses(local, 3000, HOST, remote)  # took it later
    assert not loses(local, 1000, HOST, remote)
    assert loses(local, 2000, "a.example", remote)  # a tie: the lower server name loses
    local.account = "dana"  # logged in to the account of that name: keeps it
    assert not loses(local, 3000, HOST, remote)


def test_the_events_a_person_saw_are_kept_only_once_there_is_one() -> None:
    """An idle person holds no deque (its memory per connection); the first event
    makes one, bounded by the person's limit."""
    persons = directory()
    bob = online(persons, "Bob", Device("b.example"))
    assert bob.seen is None
    bob.saw("e1")
    bob.saw("e2")  # the limit of a plain person is one event
    assert bob.seen is not None and list(bob.seen) == ["e2"]
