"""One connection's SASL exchange (AUTHENTICATE is `ircpsyc.ircd.commands.sasl`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ircpsyc.ircd import numerics as N

if TYPE_CHECKING:
    from ircpsyc.ircd.ports import NumericTarget
    from ircpsyc.services.accounts import LoginAttempt, ScramServer

MECHANISMS = ("PLAIN", "EXTERNAL", "SCRAM-SHA-256")
CHUNK = 400  # bytes of base64 per AUTHENTICATE line
MAX_RESPONSE = 8192  # bytes of base64 in one whole response
TOO_MANY = "SASL authentication failed: too many attempts, try again later"
BUSY = "SASL authentication failed: too many password checks from your address, try again"
NO_ACCOUNTS = "SASL authentication failed: this server has no accounts"
NO_CAP = "SASL authentication failed: request the sasl capability first (CAP REQ :sasl)"


class SaslState:
    """One connection's SASL exchange."""

    __slots__ = ("attempt", "buffer", "login", "mechanism", "scram", "scram_done")

    def __init__(self) -> None:
        self.attempt = 0
        self.mechanism = ""
        self.buffer = ""
        self.scram: ScramServer | None = None
        self.scram_done = False
        self.login: LoginAttempt | None = None  # the SCRAM exchange's counted attempt

    def reset(self) -> None:
        """End the exchange; a slow check still running for it is ignored when it returns."""
        self.attempt += 1
        self.mechanism = ""
        self.buffer = ""
        self.scram = None
        self.scram_done = False
        self.login = None  # an exchange cut short stays counted as a failure

    def registering(self, session: NumericTarget) -> None:
        """Connection registration completes: an exchange in progress is aborted."""
        if self.mechanism:
            self.reset()
            session.numeric(N.ERR_SASLABORTED, "SASL authentication aborted")
