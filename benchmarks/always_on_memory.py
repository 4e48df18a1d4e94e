"""What an always-on person with no connection costs in memory (issue 13: at most 1 KiB).

Brings back N always-on persons the way a restarted server does
(`AlwaysOn._restore`, ircpsyc.ircd.always_on) and measures with tracemalloc
what they add: the person (a `Client` with no session), its record in the
directory, the router and the always-on tables.  With `--channel`, each is
also a member of one channel (the place's member entry: what any member
costs).

    .venv/bin/python -m benchmarks.always_on_memory [N] [--channel]
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

from ircpsyc.assemble import front_end, install_accounts, install_always_on
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.config import load
from ircpsyc.psyc_backend.router import Router
from ircpsyc.services.accounts import Account, Accounts, ScramCredentials
from ircpsyc.services.always_on import KeptPerson
from ircpsyc.store import Store


def measure(count: int, channel: bool) -> float:
    """Bytes per always-on person."""
    config = load(None)
    router = Router(config.server.name)
    places = PlaceRegistry(router, config.server.name, config, time.time)
    core, _linking = front_end(config, router, places, time.time, time.monotonic)
    store = Store(":memory:")
    accounts = Accounts(store, lambda: config.services, time.time)
    install_accounts(core, accounts)
    always_on = install_always_on(core, store)
    always_on.service.store = None  # measure memory, not SQLite writes
    scram = ScramCredentials(b"", 4096, b"", b"")
    records = []
    for i in range(count):
        name = f"Person{i:06d}"  # capitalized, as nicks often are: keys are copies
        account = Account(name, "", scram, "", 0.0, True)
        record = KeptPerson(
            name,
            name,
            "user",
            f"host-{i}.example.org",
            "A real name",
            f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            "Disconnected",
            "i",
            ["#lobby"] if channel else [],
            time.time(),
            time.time(),
        )
        records.append((record, account))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    now = time.time()
    for record, account in records:
        always_on._restore(record, account, now)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(core.clients) == count
    store.close()
    return (after - before) / count


def main() -> None:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "2000"))
    channel = "--channel" in sys.argv
    per = measure(count, channel)
    where = " and one channel membership" if channel else ""
    print(f"{count} always-on persons with no connection{where}: {per:.0f} bytes each")


if __name__ == "__main__":
    main()
