"""Changes a command asks of a channel's place, wherever the channel is homed.

A place homed here answers while the command is handled; one homed on another
server of the network answers later, and the command waits for its answer
(ircpsyc.ircd.place_answers), so a labeled command gets it as its reply.
"""

from __future__ import annotations

from collections.abc import Callable

from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import host_of


def request_change(
    s: Session,
    method: str,
    uniform: str,
    name: str,
    vars: dict[str, Value],
    fail: tuple[str, ...],
    refused: Callable[[Packet], None] | None = None,
    echoed: bool = False,
    after: Callable[[], None] | None = None,
    overridable: bool = False,
) -> None:
    """The person of `s` asks the place `uniform` (the channel `name`) for a change.

    A place homed here answers at once, and a foreign one (psyced) is not waited for.
    One homed on another server of the network answers later, and the command waits:
    its reply is the home's answer, `refused`'s reply to a refusal (None: the error's
    numerics), or `FAIL <command> TEMPORARILY_UNAVAILABLE <context...>` (`fail` is
    (command, *context)) when it does not come in time or the home is lost.
    `echoed`: the home ends its answer with an echo (TOPIC, MODE); else the answer is
    one part (METADATA, KICK: a cast or an error; INVITE: its echo or an error).
    `after`: what the command says after the answer (`after()` at once when there is
    nothing to wait for).  `overridable`: an answer of one part that the home may
    precede with an operator's override notice (KICK, INVITE)."""
    client = s.client
    assert client is not None
    home = host_of(uniform)
    if s.core.router.is_local(uniform) or not s.core.net.network.in_network(home):
        client.request(method, uniform, vars)
        if after is not None:
            after()
        return
    answer = s.later()
    command, *context = fail

    def failed() -> None:
        late = f"{home} did not answer in time (the change may still be made)"
        s.fail(command, "TEMPORARILY_UNAVAILABLE", *context, late)

    answers = s.core.place_answers
    tag = answers.ask(
        s, answer, client.uniform, name, home, failed, refused, echoed, after, overridable
    )
    client.request(method, uniform, vars, tag=tag)
