"""Shared fixtures: real ircpsyc server processes for the loopback integration tests.

`ircpsyc_server` is a factory: each call writes a TOML configuration into the
test's tmp_path (server name, a free port on 127.0.0.1, storage in tmp_path, low
flood limits, one operator), starts ``python -m ircpsyc serve --config FILE`` in
its own process group, waits until the port answers and returns a
`ServerProcess`.  Every server a test started is stopped in the fixture's
finalizer (SIGTERM, then SIGKILL of its process group), whatever the outcome.

A failed test gets the stderr log of every server it used appended to its
report; a server log that shows a Python traceback while a test ran fails that
test (a handler that crashed is a server bug even when the client did not notice).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
SERVER_NAME = "irc.test.example"
NETWORK = "TestNet"
OPER_NAME = "admin"
OPER_PASSWORD = "correct horse battery staple"
MOTD = "Welcome to the ircpsyc integration tests.\nSecond line of the MOTD."
DATA_DIR = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parent.parent

START_TIMEOUT = 30.0  # seconds for the server to answer on its port (slow CI)
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL

# Low flood limits: tests that flood see fake lag quickly; everyday tests stay
# under the burst (the bucket refills at flood_rate lines per second).
DEFAULT_LIMITS: dict[str, Any] = {
    "flood_burst": 20,
    "flood_rate": 10.0,
    "registration_timeout": 20.0,
    "ping_interval": 120.0,
    "ping_timeout": 60.0,
}


@functools.cache
def oper_password_hash() -> str:
    """argon2 is slow on purpose: hash the operator password once per worker."""
    from ircpsyc.passwords import hash_password

    return hash_password(OPER_PASSWORD)


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A port that was free a moment ago and was not given out before in this process
    (the kernel may hand the same ephemeral port to two binds in a row, and one config
    with the same port twice does not start); the caller retries if another process
    takes it meanwhile."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


# --- TOML writing (tomllib only reads) ----------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def render_toml(config: Mapping[str, Any]) -> str:
    """Render {section: {key: value}} and {array: [{key: value}, ...]} as TOML."""
    out: list[str] = []
    for section, body in config.items():
        if isinstance(body, list):
            for entry in body:
                out.append(f"[[{section}]]")
                out.extend(f"{k} = {_toml_value(v)}" for k, v in entry.items())
                out.append("")
        else:
            out.append(f"[{section}]")
            out.extend(f"{k} = {_toml_value(v)}" for k, v in body.items())
            out.append("")
    return "\n".join(out)


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `extra` into a copy of `base`, one level deep for tables; None deletes a key."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, body in extra.items():
        if isinstance(body, Mapping) and isinstance(out.get(section), dict):
            for key, value in body.items():
                if value is None:
                    out[section].pop(key, None)
                else:
                    out[section][key] = value
        elif body is None:
            out.pop(section, None)
        else:
            out[section] = body
    return out


# --- the server process --------------------------------------------------------


@dataclass
class ServerProcess:
    """One running ``ircpsyc serve`` and what a test needs to talk to it."""

    host: str
    port: int
    config_path: Path
    stderr_path: Path
    stdout_path: Path
    proc: subprocess.Popen[bytes]
    config: dict[str, Any]
    tls_port: int | None = None
    allow_tracebacks: bool = False
    _log_offset: int = field(default=0, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def name(self) -> str:
        return str(self.config["server"]["name"])

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; its exit code (raises TimeoutExpired)."""
        return self.proc.wait(timeout)

    def wait_for_log(self, text: str, timeout: float = 5.0, start: int = 0) -> str:
        """Wait until `text` shows in the stderr log after offset `start`; the log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log[start:]:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the server log within {timeout}s:\n{log}")
            time.sleep(0.02)

    def write_config(self, extra: Mapping[str, Any] | None = None, raw: str | None = None) -> None:
        """Rewrite the config file (for SIGHUP/REHASH): merged `extra`, or `raw` text."""
        if raw is None:
            self.config = merge(self.config, extra or {})
            raw = render_toml(self.config)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(raw, encoding="utf-8")
        os.replace(tmp, self.config_path)

    def stop(self) -> int | None:
        """SIGTERM, wait, then SIGKILL the process group; the exit code."""
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # The process group is ours (start_new_session): its id is the server's pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT)
        return proc.returncode


# Servers alive during the current test, for the failure report and traceback check.
_LIVE: list[ServerProcess] = []


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if pytest dies before the finalizers ran: no orphaned servers."""
    for server in list(_LIVE):
        if server.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.proc.pid, signal.SIGKILL)


def base_config(data_dir: Path, port: int, tls_port: int | None = None) -> dict[str, Any]:
    # No web listener unless a test asks (the default one is on a fixed port).
    listen: dict[str, Any] = {"irc": [f"{HOST}:{port}"], "web": []}
    if tls_port is not None:
        listen["irc_tls"] = [f"{HOST}:{tls_port}"]
    return {
        "server": {
            "name": SERVER_NAME,
            "network": NETWORK,
            "description": "ircpsyc test server",
            "motd": MOTD,
            "admin_name": "Test Admin",
            "admin_email": "admin@test.example",
            "admin_location": "Loopback",
        },
        "listen": listen,
        "storage": {"path": str(data_dir / "ircpsyc.sqlite3")},
        "limits": dict(DEFAULT_LIMITS),
        # Every test client registers from 127.0.0.1.
        "services": {"register_per_ip_per_hour": 0},
        "opers": [{"name": OPER_NAME, "password_hash": oper_password_hash(), "hostmask": "*@*"}],
    }


def _limit_fds(count: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _links_listening(config: Mapping[str, Any], stderr_path: Path) -> bool:
    """The PSYC listener, if configured, is up: it opens after the IRC one, and a test
    that dials it at once was refused.  Read from the log, since a probe connection
    would count as a caller at the port the test is about."""
    if not config.get("listen", {}).get("psyc"):
        return True
    try:
        return "server links listening on" in stderr_path.read_text(errors="replace")
    except OSError:
        return False


def start_server(
    directory: Path,
    extra: Mapping[str, Any] | None = None,
    *,
    tls: tuple[Path, Path] | None = None,
    attempts: int = 4,
    nofile: int | None = None,
) -> ServerProcess:
    """Write a config into `directory` and start a server; retries when a port was taken.

    `nofile` lowers the server's descriptor limit (RLIMIT_NOFILE, soft and hard)."""
    directory.mkdir(parents=True, exist_ok=True)
    last_log = ""
    for attempt in range(attempts):
        port = free_port()
        tls_port = free_port() if tls is not None else None
        config = base_config(directory / "data", port, tls_port)
        if tls is not None:
            config["tls"] = {"cert": str(tls[0]), "key": str(tls[1])}
        config = merge(config, extra or {})
        config_path = directory / "ircpsyc.toml"
        config_path.write_text(render_toml(config), encoding="utf-8")
        stderr_path = directory / f"server-{attempt}.stderr.log"
        stdout_path = directory / f"server-{attempt}.stdout.log"
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        with open(stderr_path, "wb") as err, open(stdout_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ircpsyc", "serve", "--config", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=directory,
                env=env,
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=None if nofile is None else functools.partial(_limit_fds, nofile),
            )
        server = ServerProcess(
            HOST, port, config_path, stderr_path, stdout_path, proc, config, tls_port
        )
        _LIVE.append(server)
        started = time.monotonic()
        while time.monotonic() < started + START_TIMEOUT:
            if proc.poll() is not None:
                break
            if (
                _port_answers(HOST, port)
                and (tls_port is None or _port_answers(HOST, tls_port))
                and _links_listening(config, stderr_path)
            ):
                return server
            time.sleep(0.05)
        code = proc.poll()
        state = f"exited with {code}" if code is not None else "did not answer"
        waited = time.monotonic() - started
        server.stop()
        _LIVE.remove(server)
        last_log = server.log()
        stdout = stdout_path.read_text(encoding="utf-8", errors="replace")
        if "address already in use" not in last_log.lower():
            break  # not a port race: do not hide the failure behind retries
    raise RuntimeError(
        f"ircpsyc did not start ({state} after {waited:.1f}s; config {config_path}):\n"
        f"--- stderr:\n{last_log}--- stdout:\n{stdout}"
    )


class ServerFactory:
    """Starts servers under one directory and stops all of them at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[ServerProcess] = []

    def __call__(
        self,
        extra: Mapping[str, Any] | None = None,
        *,
        tls: tuple[Path, Path] | None = None,
        nofile: int | None = None,
    ) -> ServerProcess:
        server = start_server(
            self.directory / f"server{len(self.servers)}", extra, tls=tls, nofile=nofile
        )
        self.servers.append(server)
        return server

    def close(self) -> list[str]:
        """Stop every server; the logs of those that logged a traceback since last checked."""
        problems = []
        for server in self.servers:
            try:
                server.stop()
            finally:
                if server in _LIVE:
                    _LIVE.remove(server)
            problem = traceback_in_log(server)
            if problem:
                problems.append(problem)
        return problems


def traceback_in_log(server: ServerProcess) -> str:
    """The new part of the server log if it shows a Python traceback, else ""."""
    new = server.log()[server._log_offset :]
    server._log_offset += len(new)
    if server.allow_tracebacks or "Traceback (most recent call last)" not in new:
        return ""
    return f"--- server pid {server.pid} ({server.config_path}):\n{new}"


ServerStarter = Callable[..., ServerProcess]


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Servers started in a test, all stopped at its end; a traceback in a log fails it."""
    factory = ServerFactory(tmp_path)
    problems: list[str] = []
    try:
        yield factory
    finally:
        problems = factory.close()
    if problems:
        pytest.fail("a server logged a traceback:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def ircpsyc_server(factory: ServerFactory) -> ServerStarter:
    """Factory: ``ircpsyc_server({"limits": {"sendq_bytes": 4096}}, tls=(cert, key))``."""
    return factory


@pytest.fixture
def server(ircpsyc_server: ServerStarter) -> ServerProcess:
    """A fresh server with the default test configuration."""
    return ircpsyc_server()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole module; tests must use their own nicks and channels."""
    factory = ServerFactory(tmp_path_factory.mktemp("shared"))
    try:
        yield factory()
    finally:
        factory.close()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key: made with the openssl CLI, or the shipped pair."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return DATA_DIR / "tls-cert.pem", DATA_DIR / "tls-key.pem"
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={SERVER_NAME}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


# --- reporting -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _server_log_guard() -> Iterator[None]:
    """Fail a test during which a module-wide server logged a Python traceback.

    (Servers a test starts itself are checked when its factory stops them.)
    """
    before = list(_LIVE)
    for server in before:
        server._log_offset = len(server.log())
    yield
    problems = [p for p in (traceback_in_log(s) for s in before if s in _LIVE) if p]
    if problems:
        pytest.fail("the server logged a traceback:\n" + "\n".join(problems), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and _LIVE:
        for server in _LIVE:
            log = server.log()
            tail = "\n".join(log.splitlines()[-200:])
            report.sections.append(
                (f"ircpsyc server pid {server.pid} stderr ({server.stderr_path})", tail)
            )
    return report
