"""What every service entity (NickServ, ChanServ) shares: its notices and time format."""

from __future__ import annotations

import time

from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet


def fmt_time(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def notice_packet(
    service: str, nick: str, prefix: str, now: float, target: str, target_nick: str, text: str
) -> Packet:
    """A service's answer to a person, rendered by the IRC front-end as a NOTICE."""
    return Packet(
        "_message_private_notice",
        {"_source": service, "_target": target},
        {
            "_nick": nick,
            "_prefix": prefix,
            "_nick_target": target_nick,
            "_id": new_id(),
            "_time": str(int(now * 1000)),
        },
        text,
    )
