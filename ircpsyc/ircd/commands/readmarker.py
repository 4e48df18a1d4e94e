"""MARKREAD <target> [timestamp=...] (draft/read-marker): get or set a read marker.

Markers belong to the account (kept across restarts), or to the person while it
is online when it has none; they only move forward.  A marker set is told to
every session of the person and of the account that negotiated the capability
(the session that set it always gets the answer).
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd.commands.chathistory import parse_timestamp
from ircpsyc.ircd.core import command
from ircpsyc.ircd.names import valid_channel, valid_nick
from ircpsyc.ircd.read_markers import MARKREAD, markread, owner, tell
from ircpsyc.ircd.session import Session

TIMESTAMP = "timestamp="


@command(MARKREAD)
def handle_markread(s: Session, msg: Line) -> None:
    """MARKREAD <target> [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]
    Without a timestamp: the time up to which you have read <target> (a channel or
    a nick), `*` when never set.  With one: moves it there (never backwards) and
    tells your other clients."""
    client = s.client
    assert client is not None
    if not msg.params or not msg.params[0]:
        s.fail(MARKREAD, "NEED_MORE_PARAMS", "MARKREAD needs a target")
        return
    target = msg.params[0]
    limits = s.core.config.limits
    if not (valid_channel(target, limits.channellen) or valid_nick(target, limits.nicklen)):
        s.fail(MARKREAD, "INVALID_TARGET", target, "That is neither a channel nor a nick")
        return
    markers = s.core.readmarkers
    mine = owner(client)
    if len(msg.params) == 1:
        s.send(markread(s.core.name, target, markers.get(mine, target)))
        return
    value = msg.params[1]
    if not value.lower().startswith(TIMESTAMP):
        s.fail(MARKREAD, "INVALID_PARAMS", target, value, "Give timestamp=YYYY-MM-DDThh:mm:ss.sssZ")
        return
    try:
        stamp = parse_timestamp(value[len(TIMESTAMP) :])
    except ValueError:
        stamp = -1
    if stamp < 0:  # before 1970: nothing was said then
        s.fail(MARKREAD, "INVALID_PARAMS", target, value, "Invalid timestamp")
        return
    held = markers.get(mine, target)
    now = markers.set(mine, target, stamp)
    s.send(markread(s.core.name, target, now))  # the answer, also when it stays put
    if held != now:  # every other session of the person, and of its account here
        persons = s.core.persons.by_account.get(mine, ()) if client.account else (client,)
        tell(s.core.name, persons, mine, target, now, skip=s)
