"""Channel fan-out to persons with several sessions (issue 13): CPU per delivered line.

Run: `.venv/bin/python -m benchmarks.bench_multiclient` (about a minute).

The issue's figure: "a person with 10 sessions in a 1,000-member channel: channel
fan-out cost per delivered line within 10% of 1,000 single-session members".  In
process, as `benchmarks.bench_commands` measures (real `Session`s fed raw lines,
their output written to a sink that counts and drops it, no sockets), two cases
deliver the same number of lines per message:

- single: 1,000 persons, one session each, in one channel;
- multi: 100 persons with 10 sessions each (`PASS account@deviceN:password`, so
  every session attaches to its person: multiclient) in one channel;

plus a speaker with one session, who sends the lines.  Every member is logged in
to an account in both cases, so the only difference is sessions per person.  The
figure is the best of a few rounds of µs of process CPU per delivered line.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.bench_commands import IRCV3_CAPS, NullSink, make_core, measure
from ircpsyc.assemble import install_accounts
from ircpsyc.ircd.core import IRCServer
from ircpsyc.ircd.session import Session
from ircpsyc.services.accounts import Accounts
from ircpsyc.store import Store

CHANNEL = "#big"
PASSWORD = "bench-password"
SESSIONS = 1000  # receiving sessions in the channel, in both cases


def _cheap_hash(password: str) -> str:
    return "plain:" + password  # setup speed only: the measured phase checks nothing


def _cheap_verify(hash: str, password: str) -> bool:
    return hash == "plain:" + password


def connect(
    core: IRCServer, sink: NullSink, nick: str, account: str, device: str, caps: str = ""
) -> Session:
    """A session that logs in with `PASS account@device:password`, then registers."""
    session = Session(core, sink, "127.0.0.1", tls=False, now=time.monotonic())
    core.sessions[session] = None
    now = time.monotonic()
    if caps:
        session.handle_line(b"CAP LS 302", now)
        session.handle_line(f"CAP REQ :{caps}".encode(), now)
        session.handle_line(b"CAP END", now)
    session.handle_line(f"PASS {account}@{device}:{PASSWORD}".encode(), now)
    session.handle_line(f"NICK {nick}".encode(), now)
    session.handle_line(b"USER u 0 * :Bench", now)
    assert session.registered and session.client is not None, nick
    return session


def fanout_case(
    persons: int, per_person: int, messages: int, caps: str = ""
) -> tuple[float, float, int]:
    """µs of CPU per delivered line (process, event-loop thread), and sessions reached."""
    core, store = make_core("memory")
    assert store is None
    accounts_store = Store(":memory:")
    accounts = Accounts(
        accounts_store, lambda: core.config.services, time.time, _cheap_hash, _cheap_verify
    )
    install_accounts(core, accounts)
    sink = NullSink()
    members: list[Session] = []
    for p in range(persons):
        name = f"m{p}"
        accounts.create(name, accounts.make_credentials(PASSWORD))
        for d in range(per_person):
            session = connect(core, sink, name, name, f"dev{d}", caps)
            if d == 0:
                session.handle_line(f"JOIN {CHANNEL}".encode(), time.monotonic())
            members.append(session)
    first = {id(s.client) for s in members}
    assert len(first) == persons, "every device attached to its person"
    accounts.create("speaker", accounts.make_credentials(PASSWORD))
    speaker = connect(core, sink, "speaker", "speaker", "desk")
    speaker.handle_line(f"JOIN {CHANNEL}".encode(), time.monotonic())
    line = f"PRIVMSG {CHANNEL} :a channel line of a typical size, to everyone".encode()
    reached = len(members)

    def run() -> int:
        now = time.monotonic()
        before = sink.lines
        for _ in range(messages):
            speaker.handle_line(line, now)
        delivered = sink.lines - before
        assert delivered == messages * reached, (delivered, messages * reached)
        return delivered

    try:
        process, main = measure(run, None)
        return process, main, reached
    finally:
        accounts_store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="channel lines per round")
    args = parser.parse_args()
    print(f"µs of process CPU per delivered line (best of rounds of {args.messages} lines)")
    for caps in ("", IRCV3_CAPS):
        single = fanout_case(SESSIONS, 1, args.messages, caps)
        multi = fanout_case(SESSIONS // 10, 10, args.messages, caps)
        label = "members with " + caps if caps else "plain members"
        print(f"  {label}:")
        print(f"    1000 persons x 1 session : {single[0]:.3f}  ({single[2]} sessions reached)")
        print(f"    100 persons x 10 sessions: {multi[0]:.3f}  ({multi[2]} sessions reached)")
        print(f"    multi / single: {multi[0] / single[0]:.3f}")


if __name__ == "__main__":
    main()
