"""Masks a client supplies cannot stall the server (real server process, real sockets).

A mask with many stars against a subject that almost matches used to take
exponential time in the matcher (WHO, ban lists on JOIN, LIST, K-lines), and
the whole event loop waited meanwhile.
"""

from __future__ import annotations

import time

from conftest import ServerProcess

from .support import RawClient, aio, connect_registered, find, unique

STARS = 12  # the old matcher: about eight times longer per star, 19 s at 8
ADVERSARIAL = "*a" * STARS + "b"
RUN_OF_AS = "a" * 60
MAX_RTT = 1.0


async def ping_rtt(client: RawClient) -> float:
    started = time.monotonic()
    await client.sync(timeout=30)
    return time.monotonic() - started


@aio
async def test_who_with_many_stars_answers_and_others_are_served(
    shared_server: ServerProcess,
) -> None:
    port = shared_server.port
    await connect_registered(port, realname=RUN_OF_AS)  # the subject: realname a run of a's
    asker = await connect_registered(port)
    bystander = await connect_registered(port)
    await asker.send(f"WHO {ADVERSARIAL}")
    rtt = await ping_rtt(bystander)
    end = await asker.expect("315", timeout=30)
    assert end.params[1] == ADVERSARIAL
    assert not find(asker.skipped, "352")  # nobody matches (no b anywhere)
    assert rtt < MAX_RTT, f"another client's PING took {rtt:.2f}s during the WHO"
    # And a mask that does match a long run is found as quickly.
    await asker.send(f"WHO {'*a' * STARS}*")
    rows = await asker.collect("315", timeout=30)
    assert any(m.params[-1].endswith(RUN_OF_AS) for m in find(rows, "352"))


@aio
async def test_realname_ban_with_many_stars_on_join(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel = "#" + unique("masks")
    op = await connect_registered(port)
    await op.send(f"JOIN {channel}")
    await op.expect("366")
    await op.send(f"MODE {channel} +b r:{ADVERSARIAL}")
    await op.expect("MODE")
    joiner = await connect_registered(port, realname=RUN_OF_AS)
    bystander = await connect_registered(port)
    await joiner.send(f"JOIN {channel}", f"LIST {ADVERSARIAL}")
    rtt = await ping_rtt(bystander)
    await joiner.expect("366", timeout=30)  # not banned: the realname has no b
    await joiner.expect("323", timeout=30)
    assert rtt < MAX_RTT, f"another client's PING took {rtt:.2f}s during the JOIN"
    # The ban does hold for a realname it matches.
    await op.send(f"MODE {channel} +b r:{'*a' * STARS}*")
    await op.expect("MODE")
    late = await connect_registered(port, realname=RUN_OF_AS)
    await late.send(f"JOIN {channel}")
    assert (await late.expect("474", "366")).command == "474"
