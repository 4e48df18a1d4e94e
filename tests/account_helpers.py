"""A sans-IO world with the account service: an in-memory store, fast argon2, NickServ.

argon2 with its production parameters costs tens of milliseconds a hash; these
tests use the same algorithm with the smallest parameters, so a few hundred
registrations and logins stay fast.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from helpers import FakeClient, World, make_config

from ircpsyc.assemble import install_accounts
from ircpsyc.config import Config
from ircpsyc.services.accounts import Accounts
from ircpsyc.services.nickserv import NickServ
from ircpsyc.store import Store

_FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def fast_hash(password: str) -> str:
    return _FAST.hash(password)


def fast_verify(hash: str, password: str) -> bool:
    try:
        return _FAST.verify(hash, password)
    except (VerificationError, InvalidHashError):
        return False


def services_config(**services: Any) -> Config:
    config = make_config()
    if services:
        config = dataclasses.replace(
            config, services=dataclasses.replace(config.services, **services)
        )
    return config


class Deferred:
    """An offload that keeps jobs until `run()`: slow work finishing later."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []

    def __call__(
        self, _who: Any, job: Callable[[], Any], done: Callable[[Any], None], *_how: Any
    ) -> bool:
        self.jobs.append((job, done))
        return True

    def run(self) -> int:
        jobs, self.jobs = self.jobs, []
        for job, done in jobs:
            done(job())
        return len(jobs)


class ServicesWorld(World):
    """`World` plus accounts and NickServ, as `Server.start` wires them."""

    def __init__(
        self, config: Config | None = None, path: str | Path = ":memory:", **services: Any
    ) -> None:
        super().__init__(config if config is not None else services_config(**services))
        self.store = Store(str(path))
        self.accounts = Accounts(
            self.store, lambda: self.core.config.services, self.clock, fast_hash, fast_verify
        )
        self.nickserv: NickServ = install_accounts(self.core, self.accounts)

    def close(self) -> None:
        self.store.close()

    def tick(self, seconds: float = 0.0) -> None:
        self.advance(seconds)
        self.core.tick(self.now)

    def registered(
        self, nick: str, password: str = "secret-pw", caps: tuple[str, ...] = ()
    ) -> FakeClient:
        """A client that registered its nick with NickServ (and is logged in)."""
        fake = self.client(nick, caps=caps)
        out = fake.send(f"PRIVMSG NickServ :REGISTER {password}")
        assert any(m.command == "900" for m in out), [m.format() for m in out]
        fake.clear()
        return fake


def plain(authcid: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


def notices(lines: list[Any]) -> list[str]:
    """The texts of NOTICEs from NickServ."""
    return [
        m.params[-1]
        for m in lines
        if m.command == "NOTICE" and m.source and m.source.startswith("NickServ!")
    ]
