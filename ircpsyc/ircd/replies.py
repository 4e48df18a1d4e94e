"""Replies shared by command handlers and packet renderers: NAMES, TOPIC, list
modes, LUSERS, MOTD.

The bottom tier of the IRC front-end: it imports no command and no feature, so
`Client` (rendering what places say) and the handlers both use it.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import line

if TYPE_CHECKING:
    from ircpsyc.channels.place import Member, PlaceView
    from ircpsyc.ircd.ports import ReplySession


# -- channels


def send_topic(s: ReplySession, view: PlaceView) -> None:
    if not view.topic:
        s.numeric(N.RPL_NOTOPIC, view.name, "No topic is set")
        return
    s.numeric(N.RPL_TOPIC, view.name, view.topic)
    s.numeric(N.RPL_TOPICWHOTIME, view.name, view.topic_setter, str(view.topic_time))


def send_names(s: ReplySession, view: PlaceView, end: bool = True) -> None:
    client = s.client
    in_channel = client is not None and view.folded in client.channels
    send_member_names(s, view.name, view.flags, list(view.members.values()), in_channel, end)


def send_member_names(
    s: ReplySession,
    channel: str,
    flags: AbstractSet[str],
    members: list[Member],
    in_channel: bool,
    end: bool = True,
) -> None:
    """RPL_NAMREPLY lines (+i members are left out for those outside) and the end."""
    client = s.client
    multi = C.MULTI_PREFIX in s.caps
    full = C.USERHOST_IN_NAMES in s.caps
    symbol = "@" if "s" in flags else "*" if "p" in flags else "="
    names: list[str] = []
    for member in members:
        if not in_channel and client is not None and "i" in _modes_of(s, member.nick):
            continue
        names.append(member.prefixes(multi) + (member.prefix if full else member.nick))
    head = f":{s.core.name} {N.RPL_NAMREPLY} {s.nick} {symbol} {channel} :"
    room = 510 - len(head.encode())
    chunk: list[str] = []
    size = 0

    def reply() -> None:
        # The names are always the trailing parameter, one name too (as other servers
        # write it): clients that look for " :" to find the list find it.
        names_line = " ".join(chunk)
        s.send(
            line(
                s.core.name,
                N.RPL_NAMREPLY,
                s.nick or "*",
                symbol,
                channel,
                names_line,
                trailing=True,
            )
        )

    for name in names:
        if chunk and size + len(name) + 1 > room:
            reply()
            chunk, size = [], 0
        chunk.append(name)
        size += len(name) + 1
    if chunk:
        reply()
    if end:
        s.numeric(N.RPL_ENDOFNAMES, channel, "End of /NAMES list")


def _modes_of(s: ReplySession, nick: str) -> frozenset[str]:
    client = s.core.find(nick)
    return client.modes if client is not None else frozenset()


_LIST_REPLIES = {
    "b": (N.RPL_BANLIST, N.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (N.RPL_EXCEPTLIST, N.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (N.RPL_INVITELIST, N.RPL_ENDOFINVITELIST, "End of channel invite list"),
}


def send_list_mode(s: ReplySession, view: PlaceView, mode: str) -> None:
    item, end, text = _LIST_REPLIES[mode]
    for entry in view.lists[mode]:
        s.numeric(item, view.name, entry.mask, entry.setter, str(entry.set_at))
    s.numeric(end, view.name, text)


# -- the server


def send_motd(s: ReplySession) -> None:
    show_motd(s, s.core.name, s.core.motd_lines)


def show_motd(s: ReplySession, server: str, lines: list[str]) -> None:
    if not lines:
        numeric_from(s, server, N.ERR_NOMOTD, "MOTD File is missing")
        return
    numeric_from(s, server, N.RPL_MOTDSTART, f"- {server} Message of the day - ")
    for text in lines:
        numeric_from(s, server, N.RPL_MOTD, f"- {text}")
    numeric_from(s, server, N.RPL_ENDOFMOTD, "End of /MOTD command.")


def send_lusers(s: ReplySession) -> None:
    counts = s.core.counts()
    total = counts["users"] + counts["invisible"]
    users, invisible, opers = counts["users"], counts["invisible"], counts["opers"]
    net = s.core.net  # persons on other servers come from the replicated rosters
    remote = net.counts()
    users += remote["users"]
    invisible += remote["invisible"]
    opers += remote["opers"]
    servers = remote["servers"]
    channels = counts["channels"] + remote["channels"]  # homed elsewhere: the directory
    peers = len(net.network.links.up_peers())
    everyone = users + invisible
    s.numeric(
        N.RPL_LUSERCLIENT,
        f"There are {users} users and {invisible} invisible on {servers} servers",
    )
    s.numeric(N.RPL_LUSEROP, str(opers), "operator(s) online")
    s.numeric(N.RPL_LUSERUNKNOWN, str(counts["unknown"]), "unknown connection(s)")
    s.numeric(N.RPL_LUSERCHANNELS, str(channels), "channels formed")
    s.numeric(N.RPL_LUSERME, f"I have {total} clients and {peers} servers")
    s.numeric(
        N.RPL_LOCALUSERS,
        str(total),
        str(counts["max_local"]),
        f"Current local users {total}, max {counts['max_local']}",
    )
    s.numeric(
        N.RPL_GLOBALUSERS,
        str(everyone),
        str(max(everyone, counts["max_local"])),
        f"Current global users {everyone}, max {max(everyone, counts['max_local'])}",
    )


def numeric_from(s: ReplySession, server: str, numeric: str, *params: str) -> None:
    """A numeric with another server as its source (its answer shown here)."""
    s.send(line(server, numeric, s.nick or "*", *params))
