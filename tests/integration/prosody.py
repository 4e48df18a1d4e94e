"""A real Prosody for the XMPP gateway tests, and slixmpp clients to talk to it.

`start_prosody(directory)` writes a Prosody configuration into `directory`
(loopback ports picked free, anonymous logins on `localhost`, a MUC service
`conference.localhost`, and the component `irc.localhost` for ircpsyc) and runs
Debian's `prosody` in the foreground as a child process; `Prosody.stop()` ends
it (SIGTERM, then SIGKILL) and `restart()` starts it again on the same ports.

A machine without Prosody makes these tests fail with a message that says how
to install it; they never skip (CI installs it with .ci/run).

`XmppClient` is a slixmpp client that logs in anonymously and keeps every
stanza it receives, so a test can send raw XML and wait for a stanza that
matches, with a deadline, like `RawClient.expect` does for IRC lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import pytest
from conftest import free_port

HOST = "127.0.0.1"
USER_DOMAIN = "localhost"
MUC_DOMAIN = "conference.localhost"
COMPONENT_DOMAIN = "irc.localhost"
SECRET = "component secret for the tests"
START_TIMEOUT = 15.0
WAIT = 5.0

NS = "jabber:client"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = MUC + "#user"
MUC_ADMIN = MUC + "#admin"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DELAY = "urn:xmpp:delay"

_CONFIG = """\
-- Written by tests/integration/prosody.py for one test run.
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
log = {{ info = "{dir}/prosody.log" }}
interfaces = {{ "{host}" }}
c2s_ports = {{ {c2s} }}
component_ports = {{ {component} }}
component_interface = "{host}"
s2s_ports = {{ }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
modules_enabled = {{ "disco", "ping", "saslauth" }}
modules_disabled = {{ "s2s", "offline", "posix" }}
c2s_require_encryption = false
storage = "memory"
limits = {{ c2s = {{ rate = "10mb/s" }}, component = {{ rate = "10mb/s" }} }}

VirtualHost "{user_domain}"
    authentication = "anonymous"

Component "{muc_domain}" "muc"
    muc_room_locking = false
    restrict_room_creation = false
    muc_room_default_history_length = 20

Component "{component_domain}"
    component_secret = "{secret}"
"""


def prosody_binary() -> str:
    """The prosody executable; a missing one fails the test with what to do about it."""
    found = shutil.which("prosody")
    if found is None:
        pytest.fail(
            "Prosody is not installed, and the XMPP gateway tests need a real one: "
            "apt-get install prosody (.ci/run installs it in CI).",
            pytrace=False,
        )
    return found


def _free_port() -> int:
    return free_port()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Prosody:
    """One Prosody process under `directory`."""

    directory: Path
    c2s_port: int
    component_port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def config_path(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    @property
    def component_address(self) -> str:
        return f"{HOST}:{self.component_port}"

    def log(self) -> str:
        text = ""
        for name in ("prosody.log", "stderr.log"):
            with contextlib.suppress(OSError):
                text += (self.directory / name).read_text(errors="replace")
        return text

    def write_config(self) -> None:
        for sub in ("data", "certs"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            _CONFIG.format(
                dir=self.directory,
                host=HOST,
                c2s=self.c2s_port,
                component=self.component_port,
                user_domain=USER_DOMAIN,
                muc_domain=MUC_DOMAIN,
                component_domain=COMPONENT_DOMAIN,
                secret=SECRET,
            ),
            encoding="utf-8",
        )

    def start(self) -> None:
        binary = prosody_binary()
        self.write_config()
        self.starts += 1
        with open(self.directory / "stderr.log", "ab") as err:
            self.proc = subprocess.Popen(
                [binary, "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                cwd=self.directory,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _answers(self.c2s_port) and _answers(self.component_port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prosody did not start ({self.config_path}):\n{self.log()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_prosody(directory: Path, attempts: int = 3) -> Prosody:
    """A running Prosody on free loopback ports (tried again if a port was taken meanwhile)."""
    directory.mkdir(parents=True, exist_ok=True)
    error: Exception | None = None
    for _ in range(attempts):
        prosody = Prosody(directory, _free_port(), _free_port())
        try:
            prosody.start()
            return prosody
        except RuntimeError as exc:
            error = exc
    assert error is not None
    raise error


def xmpp_settings(prosody: Prosody, **extra: Any) -> dict[str, Any]:
    """The [xmpp] section of an ircpsyc configuration for this Prosody."""
    return {
        "enabled": True,
        "domain": COMPONENT_DOMAIN,
        "server": prosody.component_address,
        "secret": SECRET,
        "reconnect_max": 1.0,
        **extra,
    }


# --- clients ------------------------------------------------------------------------------

_ids = itertools.count(1)


def fresh_id(prefix: str = "t") -> str:
    return f"{prefix}{next(_ids)}"


def tag(name: str, ns: str = NS) -> str:
    return f"{{{ns}}}{name}"


def find(element: Element, name: str, ns: str = NS) -> Element | None:
    return element.find(tag(name, ns))


def text_of(element: Element, name: str, ns: str = NS) -> str | None:
    found = element.find(tag(name, ns))
    return None if found is None else (found.text or "")


def status_codes(element: Element) -> set[str]:
    x = element.find(tag("x", MUC_USER))
    if x is None:
        return set()
    return {node.get("code", "") for node in x.findall(tag("status", MUC_USER))}


def muc_item(element: Element) -> Element | None:
    x = element.find(tag("x", MUC_USER))
    return None if x is None else x.find(tag("item", MUC_USER))


def error_condition(element: Element) -> str:
    error = element.find(tag("error"))
    if error is None:
        return ""
    for node in error:
        if node.tag.startswith(f"{{{STANZAS}}}") and not node.tag.endswith("}text"):
            return node.tag.split("}", 1)[1]
    return ""


def describe(element: Element) -> str:
    from xml.etree.ElementTree import tostring

    return tostring(element, encoding="unicode")


class XmppClient:
    """An anonymous XMPP client on the test Prosody; `stanzas` is everything it received."""

    def __init__(self, prosody: Prosody) -> None:
        from slixmpp import ClientXMPP

        self.prosody = prosody
        self.stanzas: list[Element] = []
        self._cursor = 0
        self._arrived = asyncio.Event()
        self.xmpp = ClientXMPP(USER_DOMAIN, "")
        self.xmpp.register_plugin("feature_mechanisms")
        self.xmpp.remove_handler("IM")
        self.xmpp.remove_handler("Presence")
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        for kind in ("message", "presence", "iq"):
            self.xmpp.register_handler(
                Callback(f"test {kind}", MatchXPath(f"{{{NS}}}{kind}"), self._stanza)
            )
        self.jid = ""

    def _stanza(self, stanza: Any) -> None:
        self.stanzas.append(stanza.xml)
        self._arrived.set()

    @classmethod
    async def connect(cls, prosody: Prosody, timeout: float = WAIT) -> XmppClient:
        client = cls(prosody)
        started = asyncio.get_running_loop().create_future()
        client.xmpp.add_event_handler(
            "session_start", lambda _: started.done() or started.set_result(True)
        )
        client.xmpp.add_event_handler(
            "failed_all_auth", lambda _: started.done() or started.set_result(False)
        )
        client.xmpp.connect(HOST, prosody.c2s_port)
        ok = await asyncio.wait_for(started, timeout)
        assert ok, "anonymous login to the test Prosody failed"
        client.jid = str(client.xmpp.boundjid)
        _OPEN.append(client)
        return client

    def send(self, xml: str) -> None:
        """Send raw XML; stanzas are in jabber:client, so no xmlns is needed on them."""
        self.xmpp.send_raw(xml)

    async def expect(
        self,
        predicate: Callable[[Element], bool],
        timeout: float = WAIT,
        what: str = "a stanza",
    ) -> Element:
        """The next stanza (after those already taken) that matches; others are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self.stanzas):
                element = self.stanzas[self._cursor]
                self._cursor += 1
                if predicate(element):
                    return element
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n".join("    " + describe(e) for e in self.stanzas[-15:])
                raise AssertionError(f"{self.jid}: no {what} within {timeout}s; last:\n{seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def quiet(self, duration: float) -> list[Element]:
        """What arrives within `duration` seconds (taken)."""
        await asyncio.sleep(duration)
        new = self.stanzas[self._cursor :]
        self._cursor = len(self.stanzas)
        return new

    async def join(
        self, room: str, nick: str, history: str = "", password: str = ""
    ) -> list[Element]:
        """Join and wait for the subject, which ends the join sequence; the stanzas until it."""
        start = len(self.stanzas)
        extra = f"<password>{password}</password>" if password else ""
        self.send(f"<presence to='{room}/{nick}'><x xmlns='{MUC}'>{history}{extra}</x></presence>")
        await self.expect(
            lambda e: e.tag == tag("message") and find(e, "subject") is not None,
            what=f"the subject of {room}",
        )
        return self.stanzas[start : self._cursor]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.xmpp.disconnect(wait=0.5), 2)
        self.xmpp.abort()


_OPEN: list[XmppClient] = []


async def close_all() -> None:
    clients = list(_OPEN)
    _OPEN.clear()
    for client in clients:
        await client.close()


@dataclass
class Stack:
    """A Prosody and an ircpsyc process whose gateway is its component."""

    prosody: Prosody
    server: Any  # conftest.ServerProcess
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.server.port)

    def room(self, channel: str) -> str:
        return f"{channel[1:].lower()}@{COMPONENT_DOMAIN}"
