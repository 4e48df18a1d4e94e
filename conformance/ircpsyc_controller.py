"""irctest controller for ircpsyc.

irctest (https://github.com/progval/irctest) loads this module with
``--controller ircpsyc_controller`` (``conformance/`` must be on ``PYTHONPATH``;
``python -m conformance.run`` does that).  It is imported inside irctest's own
environment, so it may only use the standard library and irctest itself.

For every test case irctest calls :meth:`IrcpsycController.run`, which writes a
TOML configuration into a fresh temporary directory, starts
``ircpsyc serve --config CONFIG`` in its own process group and waits until the
port accepts connections; :meth:`IrcpsycController.kill` stops the whole process
group again.  Servers are also stopped at interpreter exit (``atexit``) and, on
Linux, when the test process dies (``PR_SET_PDEATHSIG``), so no server outlives
the run.

Environment:

``IRCPSYC_BIN``
    the ``ircpsyc`` executable (default: ``REPO/.venv/bin/ircpsyc``, where REPO
    is the repository holding this file).
``IRCPSYC_OPER_HASH``
    a ready-made password hash for ``operpassword`` (default: computed once per
    process with ``ircpsyc mkpasswd operpassword``).
``IRCPSYC_SERVICES``
    ``1`` to run the services tests too (built-in NickServ, SASL PLAIN and
    SCRAM-SHA-256, REGISTER).  Off by default: they are skipped.
``IRCPSYC_KEEP_LOGS``
    a directory; when set, each server's output is copied there on shutdown.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from irctest import patma
from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO / ".venv" / "bin" / "ircpsyc"

SERVER_NAME = "My.Little.Server"
SERVER_DESCRIPTION = "test server"
NETWORK_NAME = "ircpsyc-test"
OPER_NAME = "operuser"
OPER_PASSWORD = "operpassword"

CONFIG_FILE = "ircpsyc.toml"


def services_enabled() -> bool:
    """Whether services tests run (the default) or are skipped (``IRCPSYC_SERVICES=0``)."""
    return os.environ.get("IRCPSYC_SERVICES", "1").strip().lower() not in ("0", "false", "no")


SASL_MECHANISMS = {"PLAIN", "SCRAM-SHA-256"}
LOG_FILE = "server.log"

# Seconds given to the server to exit after SIGTERM before its group gets SIGKILL.
TERM_GRACE = 5.0

_PR_SET_PDEATHSIG = 1


def ircpsyc_bin() -> str:
    """Path of the ircpsyc executable under test."""
    return os.environ.get("IRCPSYC_BIN") or str(DEFAULT_BIN)


def _toml_str(value: str) -> str:
    # A JSON string (ASCII-only output) is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def oper_password_hash() -> str:
    """Hash of ``operpassword`` as ircpsyc's config expects it (cached per process)."""
    return os.environ.get("IRCPSYC_OPER_HASH") or password_hash(OPER_PASSWORD)


@functools.lru_cache(maxsize=8)
def password_hash(password: str) -> str:
    """An argon2 hash made by ``ircpsyc mkpasswd`` (oper and server passwords)."""
    proc = subprocess.run(
        [ircpsyc_bin(), "mkpasswd", password],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"`{ircpsyc_bin()} mkpasswd` failed (exit {proc.returncode}): "
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return lines[-1]


def render_config(
    *,
    port: int,
    directory: Path,
    oper_hash: str,
    services: dict[str, bool] | None = None,
    server_password_hash: str = "",
    websocket: str | None = None,
    always_on: str = "opt-in",
) -> str:
    """The TOML configuration for one test server.

    ``services`` (only when services tests run) becomes a ``[services]`` table.
    ``always_on`` is `[accounts] always_on`: opt-in, as in irctest's Ergo
    configuration (its account tests expect the client that registered an account
    to leave when it quits); a test that wants it otherwise says so in its
    ``ergo_config`` (see ``IrcpsycController._always_on``).
    """
    # irctest registers many accounts from 127.0.0.1: no per-IP registration limit;
    # its passwords are short ("sesame"): no minimum length beyond one character.
    extra: list[str] = [
        "[services]",
        "register_per_ip_per_hour = 0",
        "password_min_length = 1",
    ]
    extra += [f"{key} = {str(value).lower()}" for key, value in (services or {}).items()]
    extra += [""]
    return "\n".join(
        [
            "[server]",
            f"name = {_toml_str(SERVER_NAME)}",
            f"description = {_toml_str(SERVER_DESCRIPTION)}",
            f"network = {_toml_str(NETWORK_NAME)}",
            "utf8_only = true",
            f"password_hash = {_toml_str(server_password_hash)}",
            "",
            "[listen]",
            f"irc = [{_toml_str(f'127.0.0.1:{port}')}]",
            # The default web listener is on a fixed port: only when irctest asks for one.
            f"web = [{_toml_str(websocket) if websocket else ''}]",
            "",
            "[storage]",
            f"path = {_toml_str(str(directory / 'ircpsyc.sqlite3'))}",
            "",
            "[limits]",
            "flood_rate = 0.0",
            "max_per_ip = 1000",
            "",
            # As irctest's Ergo configuration: +draft/persist TAGMSGs are kept too.
            "[history]",
            'tagmsg_storage = ["+draft/react", "+react", "+draft/reply", "+reply", '
            '"+draft/persist", "+persist"]',
            "",
            "[accounts]",
            f"always_on = {_toml_str(always_on)}",
            "",
            "[[opers]]",
            f"name = {_toml_str(OPER_NAME)}",
            f"password_hash = {_toml_str(oper_hash)}",
            f"hostmask = {_toml_str('*@*')}",
            "",
            *extra,
        ]
    )


# --- process-group bookkeeping -------------------------------------------------

# Servers started by this process and not yet stopped (each leads its own group).
_live: dict[int, subprocess.Popen[Any]] = {}
_live_lock = threading.Lock()


def _forget(proc: subprocess.Popen[Any]) -> None:
    with _live_lock:
        _live.pop(proc.pid, None)


def _wait_exited(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited, without reaping it; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True  # already reaped
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to a process group; False if the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _kill_all_groups() -> None:
    """atexit hook: no server started by this process survives it."""
    with _live_lock:
        procs = list(_live.values())
        _live.clear()
    for proc in procs:
        # Unreaped, so the group ID is still reserved for this server.
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGKILL)


atexit.register(_kill_all_groups)


def _load_libc() -> Any:
    # Resolved here, not after fork(): find_library() may itself spawn processes.
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child after fork()
    """preexec_fn: new session, and SIGKILL when the parent thread dies (Linux)."""
    os.setsid()
    if _LIBC is not None:
        with contextlib.suppress(OSError, AttributeError):
            _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _from_nickserv(msg: Any) -> bool:
    return bool(msg.command == "NOTICE" and (msg.prefix or "").lower().startswith("nickserv!"))


REGISTER_LINE_MAX = 400  # bytes of "REGISTER <password>" sent as one PRIVMSG
REGISTER_CHUNK = 300  # characters per line of a multiline REGISTER


class IrcpsycController(BaseServerController, DirectoryBasedController):
    software_name = "ircpsyc"
    # Services tests are skipped unless IRCPSYC_SERVICES=1: then NickServ and
    # SASL are the server's own (there is no separate services package).
    supported_sasl_mechanisms: set[str] = set(SASL_MECHANISMS) if services_enabled() else set()
    supports_sts = False
    # Left empty on purpose: irctest then skips (rather than fails) tests whose
    # capability or optional behaviour the server does not advertise.
    capabilities: frozenset[Any] = frozenset()
    optional_behaviors: frozenset[Any] = frozenset()
    extban_mute_char = "m"  # quiets: MODE #chan +b m:mask
    # The 005 tokens irctest's isupport.testValues checks (as the server's core
    # advertises them with its default config).
    isupport: dict[str, Any] = {
        "BOT": "B",
        "CASEMAPPING": "rfc1459",
        "ELIST": patma.StrRe(".*U.*"),
        "INVEX": "I",
        "MONITOR": patma.ANYSTR,
        "MSGREFTYPES": "msgid,timestamp",
        "PREFIX": "(qaohv)~&@%+",
        "STATUSMSG": "~&@%+",
        "TARGMAX": patma.ANYSTR,
        "WHOX": None,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log: Any = None

    # irctest API ---------------------------------------------------------------

    def create_config(self) -> None:
        super().create_config()
        with self.open_file(CONFIG_FILE):
            pass

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: str | None,
        ssl: bool,
        run_services: bool,
        faketime: str | None,
        websocket_hostname: str | None,
        websocket_port: int | None,
    ) -> None:
        assert self.proc is None
        unsupported = self._unsupported(
            password=password,
            ssl=ssl,
            run_services=run_services,
        )
        if unsupported:
            # irctest skips the test, and calls no tearDown: release the ports now.
            self.kill()
            raise NotImplementedByController(unsupported)

        self.port = port
        self.hostname = hostname
        try:
            websocket = None
            if websocket_hostname is not None or websocket_port is not None:
                websocket = f"{websocket_hostname or '127.0.0.1'}:{websocket_port or 0}"
            self._start(port, faketime, password, websocket)
            self.wait_for_port()
        except BaseException as exc:
            log_tail = self._log_tail()
            self.kill()
            if log_tail and isinstance(exc, Exception) and not isinstance(exc, KeyboardInterrupt):
                raise RuntimeError(f"ircpsyc failed to start: {exc}\n{log_tail}") from exc
            raise

    def kill_proc(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after a grace period.

        The leader is left a zombie (not reaped) until its group has been sent a
        final SIGKILL, so the process group ID cannot have been reused meanwhile.
        """
        proc = self.proc
        assert proc is not None
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            if not _wait_exited(proc.pid, TERM_GRACE):
                _signal_group(proc.pid, signal.SIGKILL)
                _wait_exited(proc.pid, 10.0)
            # Children that ignored SIGTERM must not outlive the leader.
            _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        _forget(proc)
        self.proc = None
        self._close_log()

    def terminate(self) -> None:
        """Stop the server but keep its directory (irctest restarts it in some tests)."""
        if self.proc is not None:
            self.kill_proc()
        self.port_open = False

    def kill(self) -> None:
        self._keep_log()
        super().kill()
        self.directory = None
        self.port_open = False

    def wait_for_services(self) -> None:
        """Services are built in: they are up when the port is."""
        self.wait_for_port()

    def registerUser(self, case: Any, username: str, password: str | None = None) -> None:
        """Register an account through NickServ, as irctest's services tests expect."""
        if not services_enabled():
            raise NotImplementedByController("account registration (set IRCPSYC_SERVICES=1)")
        if not case.run_services:
            raise ValueError("Attempted to register a nick, but `run_services` is not True.")
        assert password
        command = f"REGISTER {password}"
        # A password too long for one line (testPlainLarge800) goes in a draft/multiline
        # batch of concatenated lines, which NickServ reads as one command.
        multiline = len(command.encode()) > REGISTER_LINE_MAX
        client = case.addClient(show_io=True)
        if multiline:
            case.sendLine(client, "CAP LS 302")
            case.sendLine(client, "CAP REQ :batch draft/multiline")
        case.sendLine(client, "NICK " + username)
        case.sendLine(client, "USER r e g :user")
        if multiline:
            case.sendLine(client, "CAP END")
        while case.getRegistrationMessage(client).command != "001":
            pass
        case.getMessages(client)
        if multiline:
            case.sendLine(client, "BATCH +reg draft/multiline NickServ")
            for i in range(0, len(command), REGISTER_CHUNK):
                tags = "batch=reg" + (";draft/multiline-concat" if i else "")
                chunk = command[i : i + REGISTER_CHUNK]
                case.sendLine(client, f"@{tags} PRIVMSG NickServ :{chunk}")
            case.sendLine(client, "BATCH -reg")
        else:
            case.sendLine(client, f"PRIVMSG NickServ :{command}")
        # Password hashing happens off the event loop: the answer may come late.
        replies: list[Any] = []
        deadline = time.monotonic() + 15
        while not any(_from_nickserv(msg) for msg in replies):
            assert time.monotonic() < deadline, f"NickServ did not answer REGISTER: {replies}"
            replies += case.getMessages(client)
        answers = [msg.params[-1] for msg in replies if _from_nickserv(msg)]
        assert any("account created" in text.lower() for text in answers), (
            f"NickServ REGISTER {username} failed: {answers}"
        )
        case.sendLine(client, "QUIT")
        case.assertDisconnected(client)

    # helpers -------------------------------------------------------------------

    def _always_on(self) -> str:
        """`[accounts] always_on` for this test: what its Ergo configuration would say
        (irctest's base is opt-in; ReadMarkerServiceTestCase makes it opt-out)."""
        ergo: dict[str, Any] = {"accounts": {"multiclient": {"always-on": "opt-in"}}}
        change = getattr(self.test_config, "ergo_config", None)
        if change is not None:
            with contextlib.suppress(Exception):  # a change of keys Ergo alone has
                change(ergo)
        value = ergo["accounts"]["multiclient"].get("always-on", "opt-in")
        return value if value in ("opt-in", "opt-out", "mandatory", "disabled") else "opt-in"

    def _services_settings(self) -> dict[str, bool] | None:
        if not services_enabled():
            return None
        config = self.test_config
        return {
            "registration_before_connect": bool(config.account_registration_before_connect),
            "registration_email_required": bool(config.account_registration_requires_email),
        }

    @staticmethod
    def _unsupported(*, password: str | None, ssl: bool, run_services: bool) -> str:
        if run_services and not services_enabled():
            return "services (NickServ/SASL; set IRCPSYC_SERVICES=1)"
        if ssl:
            return "TLS"
        return ""

    def _start(
        self,
        port: int,
        faketime: str | None,
        password: str | None = None,
        websocket: str | None = None,
    ) -> None:
        binary = ircpsyc_bin()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise FileNotFoundError(f"ircpsyc executable not found: {binary} (set IRCPSYC_BIN)")
        oper_hash = oper_password_hash()

        self.create_config()
        assert self.directory is not None
        with self.open_file(CONFIG_FILE, "w") as fd:
            fd.write(
                render_config(
                    port=port,
                    directory=self.directory,
                    oper_hash=oper_hash,
                    services=self._services_settings(),
                    server_password_hash=password_hash(password) if password else "",
                    websocket=websocket,
                    always_on=self._always_on(),
                )
            )

        command: list[str] = []
        if faketime and shutil.which("faketime"):
            command += ["faketime", "-f", faketime]
            self.faketime_enabled = True
        command += [binary, "serve", "--config", str(self.directory / CONFIG_FILE)]

        if self.debug_mode:
            output: Any = None  # irctest streams it, prefixed, to the test's stdout
        else:
            self._log = output = self.open_file(LOG_FILE, "a")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = self.execute(
            command,
            proc_name="ircpsyc",
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            preexec_fn=_die_with_parent,
            env=env,
            cwd=str(self.directory),
        )
        # preexec_fn made the child a session (and process group) leader.
        with _live_lock:
            _live[self.proc.pid] = self.proc

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def _log_tail(self, lines: int = 30) -> str:
        if self.directory is None:
            return ""
        try:
            text = (self.directory / LOG_FILE).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _keep_log(self) -> None:
        keep = os.environ.get("IRCPSYC_KEEP_LOGS")
        if not keep or self.directory is None:
            return
        src = self.directory / LOG_FILE
        if src.exists():
            dest = Path(keep)
            dest.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(src, dest / f"ircpsyc-{os.getpid()}-{self.port}.log")


def get_irctest_controller_class() -> type[IrcpsycController]:
    """Entry point irctest's conftest.py looks up."""
    return IrcpsycController


get_controller_class = get_irctest_controller_class
