"""Server notices for operators: user mode +s with a mask of letters (snomask).

`MODE nick +s +cq` adds connects and quits, `MODE nick +s -q` removes quits,
`MODE nick -s` switches them all off; only IRC operators may set +s.  The
letters (config.SNOMASK_LETTERS):

    a  announcements: REHASH, and who did it
    c  clients connecting to this server
    F  far connects and exits: persons of other servers of the network (from the
       roster), and one summary per server for a netsplit or a netjoin
    k  KILLs
    o  users becoming IRC operators (and failed OPER attempts)
    q  clients quitting this server
    v  operators overriding channel rules
    x  K-lines and D-lines added, removed and expired

A notice reads `:server NOTICE nick :*** CONNECT: ...` (the label names the letter).
Only the clients that have a mask are visited: a connection storm costs one
dictionary walk over the opers watching, not over every client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ircpsyc.config import SNOMASK_LETTERS
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import line
from ircpsyc.persons.person import mode_set

if TYPE_CHECKING:
    from ircpsyc.ircd.ports import Named
    from ircpsyc.persons.person import Person

LABELS = {
    "a": "ANNOUNCEMENT",
    "c": "CONNECT",
    "F": "REMOTE",
    "k": "KILL",
    "o": "OPER",
    "q": "QUIT",
    "v": "OVERRIDE",
    "x": "XLINE",
}
DEFAULT = "acko"  # what a bare `MODE nick +s` switches on


def apply_spec(current: str, spec: str) -> str:
    """`+cq-k` (or `cq`, meaning `+cq`) applied to a mask; unknown letters are ignored."""
    letters = set(current)
    adding = True
    for char in spec:
        if char == "+":
            adding = True
        elif char == "-":
            adding = False
        elif char == "*":
            letters = set(SNOMASK_LETTERS) if adding else set()
        elif char in SNOMASK_LETTERS:
            if adding:
                letters.add(char)
            else:
                letters.discard(char)
    return "".join(sorted(letters))


class Snomasks:
    """Who gets which server notices."""

    def __init__(self, core: Named) -> None:
        self.core = core
        self.masks: dict[Person, str] = {}

    def get(self, client: Person) -> str:
        return self.masks.get(client, "")

    def set(self, client: Person, letters: str) -> None:
        """Set a client's mask (and user mode +s with it); empty removes it."""
        if letters and client.is_oper:
            self.masks[client] = letters
            client.modes = mode_set(client.modes | {"s"})
        else:
            self.masks.pop(client, None)
            client.modes = mode_set(client.modes - {"s"})
        client.directory.changed(client)  # the roster shows the modes

    def forget(self, client: Person) -> None:
        self.masks.pop(client, None)

    def tell(self, client: Person) -> None:
        """RPL_SNOMASK (008): the client's current mask."""
        mask = self.get(client)
        for session in client.sessions:
            session.numeric(N.RPL_SNOMASK, f"+{mask}" if mask else "+", "Server notice mask")

    def send(self, letter: str, text: str) -> None:
        label = LABELS[letter]
        name = self.core.name
        for client, mask in list(self.masks.items()):
            if letter in mask and client.is_oper:
                client.send(line(name, "NOTICE", client.nick, f"*** {label}: {text}"))
