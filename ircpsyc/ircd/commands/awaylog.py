"""AWAYLOG [LIST | PLAY | CLEAR]: what an account missed (ircpsyc.ircd.awaylog_hooks
records it and replays it on return)."""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd.awaylog_hooks import clear, gather, mark_read, present, summary
from ircpsyc.ircd.core import command
from ircpsyc.ircd.session import Session
from ircpsyc.services.awaylog import AwayEntry

CMD = "AWAYLOG"


# AWAYLOG [LIST | PLAY | CLEAR]
@command(CMD)
def handle_awaylog(s: Session, msg: Line) -> None:
    """AWAYLOG [LIST | PLAY | CLEAR]
    What your account missed while it was away or offline: private messages and
    channel lines that mention your nick.  LIST counts them, PLAY shows them all
    again, CLEAR deletes them.  They are shown on their own when you log in or
    come back from AWAY."""
    client = s.client
    assert client is not None
    sub = msg.params[0].upper() if msg.params else "LIST"
    if sub not in ("LIST", "PLAY", "CLEAR"):
        s.fail(CMD, "INVALID_PARAMS", msg.params[0], "Use AWAYLOG LIST, PLAY or CLEAR")
        return
    if not client.account:
        s.fail(CMD, "ACCOUNT_REQUIRED", "You must be logged in to an account to have an away log")
        return
    answer = s.later()  # the account's home may be another server
    account = client.account
    if sub == "CLEAR":

        def cleared(count: int | None) -> None:
            def reply() -> None:
                if count is None:
                    s.fail(
                        CMD,
                        "TEMPORARILY_UNAVAILABLE",
                        "Your away log is kept by another server, which cannot be reached "
                        "right now; please try again later",
                    )
                    return
                s.note(f"Away log cleared ({count} entr{'ies' if count != 1 else 'y'}).")

            answer(reply)

        clear(client, cleared)
        return

    def found(entries: list[AwayEntry], unreachable: str) -> None:
        def reply() -> None:
            if unreachable:
                s.note(
                    f"Your away log is kept by the server {unreachable}, which cannot be "
                    "reached right now; this is only what this server holds."
                )
            if sub == "LIST":
                for text in summary(client, entries):
                    s.note(text)
            elif not entries:
                s.note("Your away log is empty.")
            else:
                present(s, entries)
                if client.account == account:
                    mark_read(client, entries)

        answer(reply)

    gather(client, False, found)
