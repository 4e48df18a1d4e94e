"""Start, watch and stop the IRC servers under test.

Each managed server gets a fresh temporary directory with a generated config:
a listener on 127.0.0.1 and a free port only, room for at least 12,000
clients, no flood control or connect throttling, a large send queue, no DNS or
ident lookups. That keeps the servers comparable: none is slowed by a limit the
others do not have. ``ircpsyc-defaults`` is ircpsyc as users run it: the same
config, but flood control (``flood_burst``, ``flood_rate``) as shipped.

CPU time and memory are read from /proc (``utime + stime`` in
``/proc/PID/stat``, ``VmRSS`` in ``/proc/PID/status``), summed over the server
process and any children, so the load generator's own CPU never counts.
An ``external`` server is only connected to: there is no PID to measure.

``ircpsyc-xN`` is N ircpsyc processes on this machine linked as one network
(every pair linked on loopback, a full mesh): its figures are those of all N
processes together, and the scenarios spread their clients over the N IRC
ports (see ``ServerHandle.port_of``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CLK_TCK",
    "KINDS",
    "REPO",
    "ServerError",
    "ServerHandle",
    "ServerSpec",
    "free_port",
    "ircpsyc_config",
    "linked_names",
    "network_config",
    "parse_server",
    "write_ircpsyc_config",
]

REPO = Path(__file__).resolve().parent.parent
# The checkout whose ircpsyc the started servers run (`benchmarks.run --code DIR`: a
# "before" exported with `git archive`, measured by this harness).
CODE = REPO
KINDS = ("ircpsyc", "ircpsyc-defaults", "ircpsyc-xN", "ngircd", "inspircd", "external")
SERVER_NAME = "bench.local"
LINK_SECRET = "benchmark link secret, long enough"  # loopback only
MAX_PROCESSES = 8  # ircpsyc-xN: a full mesh of N processes
_LINKED_TIMEOUT = 30.0  # until every process of an ircpsyc-xN sees all the others
# The spread of clients over the processes of an ircpsyc-xN: what the kernel's
# SO_REUSEPORT hashing (or random DNS answers) gives, but the same in every run.
SPREAD_SEED = 16
MAX_CLIENTS = 20000
SENDQ_BYTES = 8 * 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
_STARTUP_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
WEB_PORT_FILE = "web-port"  # where write_ircpsyc_config notes the port of its web listener
_LIVE: set[ServerHandle] = set()  # started and not yet stopped: stopped at exit


@atexit.register
def _stop_leftovers() -> None:
    for handle in list(_LIVE):
        handle.stop()


class ServerError(RuntimeError):
    """A server could not be started, or is not usable."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSpec:
    """What to benchmark: a server kind, plus the address for ``external``."""

    kind: str
    host: str = "127.0.0.1"
    port: int = 0
    processes: int = 1  # ircpsyc only: that many linked processes
    defaults: bool = False  # ircpsyc only: flood control as shipped (ircpsyc-defaults)

    @property
    def label(self) -> str:
        if self.kind == "external":
            return f"external {self.host}:{self.port}"
        kind = f"{self.kind}-defaults" if self.defaults else self.kind
        return f"{kind}-x{self.processes}" if self.processes > 1 else kind

    @property
    def managed(self) -> bool:
        return self.kind != "external"

    def version(self) -> str:
        """A one-line version string of the server, best effort."""
        commands = {
            "ngircd": ["ngircd", "--version"],
            "inspircd": ["inspircd", "--version"],
            "ircpsyc": [str(_ircpsyc_bin()), "--version"],
        }
        if self.kind not in commands:
            return "unknown (external)"
        try:
            out = subprocess.run(
                commands[self.kind], capture_output=True, text=True, timeout=15, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unknown ({exc.__class__.__name__})"
        lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
        version = lines[0] if lines and out.returncode == 0 else "unknown"
        if self.kind == "ircpsyc":
            version = f"{version} (git {_git_head()})"
        return version

    def start(self) -> ServerHandle:
        """Start a fresh instance (or, for external, check that it answers)."""
        if self.kind == "external":
            if not _is_loopback(self.host):
                raise ServerError(
                    f"{self.host}: only loopback addresses (127.0.0.0/8, ::1, localhost) "
                    "may be load tested from here"
                )
            _wait_for_port(self.host, self.port, None, 5.0)
            return ServerHandle(spec=self, host=self.host, port=self.port)
        if self.kind == "ircpsyc" and self.processes > 1:
            return _start_linked(self)
        defaults = self.defaults
        starters = {
            "ircpsyc": lambda w, p: write_ircpsyc_config(w, p, defaults=defaults),
            "ngircd": _start_ngircd,
            "inspircd": _start_inspircd,
        }
        if self.kind not in starters:
            raise ServerError(f"unknown server kind {self.kind!r}; one of {', '.join(KINDS)}")
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.kind}-"))
        port = free_port()
        try:
            argv = starters[self.kind](workdir, port)
            handle = _spawn(self, argv, workdir, port)
            if self.kind == "ircpsyc":
                handle.web_port = int((workdir / WEB_PORT_FILE).read_text())
                _wait_for_port("127.0.0.1", handle.web_port, handle.proc, _STARTUP_TIMEOUT)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return handle


def parse_server(text: str) -> ServerSpec:
    """``ircpsyc``, ``ircpsyc-defaults``, ``ircpsyc-xN``, ``ngircd``, ``inspircd``,
    ``external=HOST:PORT`` or ``external HOST:PORT``."""
    text = text.strip()
    if text in ("ircpsyc", "ngircd", "inspircd"):
        return ServerSpec(text)
    if text == "ircpsyc-defaults":
        return ServerSpec("ircpsyc", defaults=True)
    linked = re.fullmatch(r"ircpsyc-x(\d+)", text)
    if linked:
        count = int(linked.group(1))
        if not 1 <= count <= MAX_PROCESSES:
            raise ValueError(f"{text!r}: from ircpsyc-x1 to ircpsyc-x{MAX_PROCESSES}")
        return ServerSpec("ircpsyc", processes=count)
    for sep in ("=", " ", ":"):
        prefix = "external" + sep
        if text.startswith(prefix):
            address = text[len(prefix) :].strip()
            break
    else:
        raise ValueError(
            f"{text!r}: expected ircpsyc, ircpsyc-defaults, ircpsyc-xN, ngircd, inspircd "
            "or external=HOST:PORT"
        )
    if address.startswith("["):
        host, _, port = address[1:].partition("]:")
    else:
        host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{text!r}: expected external=HOST:PORT")
    return ServerSpec("external", host, int(port))


@dataclass(eq=False)
class ServerHandle:
    """A running server: its address and, when we started it, its process."""

    spec: ServerSpec
    host: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    logs: list[Path] = field(default_factory=list)
    web_port: int | None = None  # IRC over WebSocket (ircpsyc's listen.web), if any
    # ircpsyc-xN: the other processes of the network (this handle is the first);
    # figures, stopping and logs cover them all.
    peers: list[ServerHandle] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def processes(self) -> list[ServerHandle]:
        return [self, *self.peers]

    def port_of(self, index: int, web: bool = False) -> int:
        """The port client number ``index`` connects to: for several processes, one
        drawn at random (seeded, so the same in every run and for every server), as
        the kernel's SO_REUSEPORT hashing would spread them."""
        ports = [p.web_port if web else p.port for p in self.processes]
        if len(ports) == 1:
            chosen = ports[0]
        else:
            chosen = ports[random.Random(SPREAD_SEED * 1_000_003 + index).randrange(len(ports))]
        if chosen is None:
            raise ServerError("this server has no WebSocket listener")
        return chosen

    def alive(self) -> bool:
        return all(p.proc is None or p.proc.poll() is None for p in self.processes)

    def exit_status(self) -> int | None:
        for p in self.processes:
            if p.proc is not None and p.proc.poll() is not None:
                return p.proc.poll()
        return None

    def cpu_seconds(self) -> float | None:
        """User plus system CPU seconds of the server(s) and children so far."""
        each = self.cpu_seconds_each()
        return None if each is None else sum(each)

    def cpu_seconds_each(self) -> list[float] | None:
        """``cpu_seconds`` of each process of the network (one entry for one)."""
        # utime, stime, cutime, cstime: fields 14-17, counted from 1.
        return self._seconds_each((11, 12, 13, 14))

    def system_seconds(self) -> float | None:
        """The system (kernel) part of ``cpu_seconds``: the socket calls, mostly."""
        each = self._seconds_each((12, 14))  # stime, cstime
        return None if each is None else sum(each)

    def _seconds_each(self, columns: tuple[int, ...]) -> list[float] | None:
        """The sum of these /proc stat `columns` (clock ticks) over each process of
        the network and its children, in seconds."""
        if self.pid is None:
            return None
        out = []
        for root in self.processes:
            total = 0
            for pid in _process_tree(root.pid) if root.pid is not None else ():
                fields = _stat_fields(pid)
                if fields is not None:
                    total += sum(int(fields[i]) for i in columns)
            out.append(total / CLK_TCK)
        return out

    def rss_bytes(self) -> int | None:
        """Resident memory (VmRSS) of the server(s) and children, in bytes."""
        if self.pid is None:
            return None
        total = 0
        for root in self.processes:
            if root.pid is None:
                continue
            for pid in _process_tree(root.pid):
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                            break
        return total

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's logs (stderr, stdout, log file)."""
        parts = []
        for p in self.processes:
            for path in p.logs:
                with contextlib.suppress(OSError):
                    text = path.read_text(errors="replace").splitlines()
                    if text:
                        parts.append(f"--- {path.parent.name}/{path.name} ---")
                        parts.extend(text[-lines:])
        return "\n".join(parts)

    def stop(self, keep_workdir: bool = False) -> None:
        """SIGTERM the server(s) (SIGKILL after a grace period); remove the directory."""
        _LIVE.discard(self)
        for p in self.peers:
            p.stop(keep_workdir=True)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(_STOP_TIMEOUT)
        if not keep_workdir:
            self.cleanup()

    def cleanup(self) -> None:
        """Remove the server's temporary directory (config, logs, database)."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


# --- /proc helpers -----------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (so index 0 is field 3, state)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


# --- starting ----------------------------------------------------------------


def _ircpsyc_bin() -> Path:
    """The repository's venv's ``ircpsyc``; in a git worktree without a venv, the
    one beside the running interpreter, if any (the server still runs REPO's code:
    `_spawn` puts REPO first on its PYTHONPATH)."""
    own = REPO / ".venv" / "bin" / "ircpsyc"
    beside = Path(sys.executable).parent / "ircpsyc"
    return own if own.exists() or not beside.exists() else beside


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(CODE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    dirty = subprocess.run(
        ["git", "-C", str(CODE), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def _ircpsyc_argv() -> list[str]:
    """The venv's ``ircpsyc``; in a checkout without a venv (a git worktree run with
    PYTHONPATH set), this Python's ``-m ircpsyc``."""
    binary = _ircpsyc_bin()
    if binary.exists():
        return [str(binary)]
    if importlib.util.find_spec("ircpsyc") is None:
        raise ServerError(f"{binary} does not exist (run `make` to install the venv)")
    return [sys.executable, "-m", "ircpsyc"]


def ircpsyc_config(
    workdir: Path,
    port: int,
    web_port: int,
    name: str = SERVER_NAME,
    psyc_port: int = 0,
    network: str = "",
    *,
    defaults: bool = False,
) -> str:
    """The generated ircpsyc.toml: high limits; flood control off unless ``defaults``.
    ``network`` is TOML for the config's end ([network], [[links]])."""
    psyc = f'\n            psyc = "127.0.0.1:{psyc_port}"' if psyc_port else ""
    flood = "" if defaults else "\n            flood_rate = 0.0"
    comment = (
        "flood control as shipped (flood_burst, flood_rate not set)"
        if defaults
        else "flood control off"
    )
    return (
        textwrap.dedent(
            f"""\
            # Generated by benchmarks/servers.py: loopback only, high limits, {comment}.
            [server]
            name = "{name}"

            [listen]
            irc = ["127.0.0.1:{port}"]
            web = ["127.0.0.1:{web_port}"]{psyc}

            [storage]
            path = "{workdir / "db.sqlite3"}"

            [limits]
            max_clients = {MAX_CLIENTS}
            max_per_ip = {MAX_CLIENTS}{flood}
            sendq_bytes = {SENDQ_BYTES}
            registration_timeout = 60.0
            ping_interval = 600.0
            """
        )
        + network
    )


def write_ircpsyc_config(
    workdir: Path,
    port: int,
    name: str = SERVER_NAME,
    psyc_port: int = 0,
    network: str = "",
    *,
    defaults: bool = False,
) -> list[str]:
    """Write an ircpsyc config into ``workdir``; the command line that serves it."""
    argv = _ircpsyc_argv()
    conf = workdir / "ircpsyc.toml"
    web_port = free_port()
    (workdir / WEB_PORT_FILE).write_text(str(web_port))
    conf.write_text(
        ircpsyc_config(workdir, port, web_port, name, psyc_port, network, defaults=defaults)
    )
    return [*argv, "serve", "--config", str(conf)]


def linked_names(count: int) -> list[str]:
    return [f"s{i}.{SERVER_NAME}" for i in range(count)]


def network_config(names: list[str], index: int, psyc_ports: list[int]) -> str:
    """[network] and [[links]] of process ``index`` of a full mesh (of each pair,
    the lower index dials), as TOML for the end of its config."""
    lines = [
        "",
        "[network]",
        "servers = [" + ", ".join(f'"{n}"' for n in names) + "]",
        "reconnect_min = 0.2",
        "reconnect_max = 1.0",
    ]
    for other, name in enumerate(names):
        if other == index:
            continue
        address = f"127.0.0.1:{psyc_ports[other]}" if index < other else ""
        lines += [
            "",
            "[[links]]",
            f'name = "{name}"',
            f'address = "{address}"',
            f'secret = "{LINK_SECRET}"',
        ]
    return "\n".join(lines) + "\n"


def _start_linked(spec: ServerSpec) -> ServerHandle:
    """``spec.processes`` ircpsyc processes, every pair linked on loopback; returns
    once each sees all the others (their LUSERS counts every server)."""
    count = spec.processes
    names = linked_names(count)
    parent = Path(tempfile.mkdtemp(prefix=f"bench-{spec.label}-"))
    handles: list[ServerHandle] = []
    try:
        psyc_ports = [free_port() for _ in names]
        for index, name in enumerate(names):
            workdir = parent / name
            workdir.mkdir()
            port = free_port()
            network = network_config(names, index, psyc_ports)
            argv = write_ircpsyc_config(
                workdir, port, name, psyc_ports[index], network, defaults=spec.defaults
            )
            handle = _spawn(spec, argv, workdir, port)
            _LIVE.discard(handle)  # stopped through the first handle
            handle.web_port = int((workdir / WEB_PORT_FILE).read_text())
            handles.append(handle)
        first = handles[0]
        first.peers = handles[1:]
        first.workdir = parent
        _LIVE.add(first)
        for handle in handles:
            assert handle.web_port is not None
            _wait_for_port("127.0.0.1", handle.web_port, handle.proc, _STARTUP_TIMEOUT)
            _wait_linked(handle, count)
    except BaseException:
        for handle in handles:
            handle.stop(keep_workdir=True)
        shutil.rmtree(parent, ignore_errors=True)
        raise
    return first


def _wait_linked(handle: ServerHandle, count: int) -> None:
    """Until a client of ``handle`` is told (LUSERS, 251) that ``count`` servers are up."""
    deadline = time.monotonic() + _LINKED_TIMEOUT
    attempt = 0
    while True:
        attempt += 1
        servers = _lusers_servers(handle.port, f"benchlink{attempt}")
        if servers == count:
            return
        if handle.proc is not None and handle.proc.poll() is not None:
            raise ServerError(f"{handle.workdir}: exited with status {handle.proc.returncode}")
        if time.monotonic() > deadline:
            raise ServerError(
                f"{handle.workdir}: sees {servers} of {count} servers after "
                f"{_LINKED_TIMEOUT:.0f}s\n{handle.log_tail()}"
            )
        time.sleep(0.3)


def _lusers_servers(port: int, nick: str) -> int | None:
    """Register on ``port``; the server count of the 251 reply of the welcome."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(f"NICK {nick}\r\nUSER b 0 * :b\r\n".encode())
        data = b""
        while b" 376 " not in data and b" 422 " not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.sendall(b"QUIT\r\n")
    found = re.search(rb" 251 \S+ :There are \d+ users and \d+ invisible on (\d+) servers", data)
    return int(found.group(1)) if found else None


def _start_ngircd(workdir: Path, port: int) -> list[str]:
    binary = shutil.which("ngircd") or "/usr/sbin/ngircd"
    if not Path(binary).exists():
        raise ServerError("ngircd is not installed (apt-get install ngircd)")
    # Run as root, ngircd switches to "nobody": it must be able to write its PID file.
    workdir.chmod(0o755)
    rundir = workdir / "run"
    rundir.mkdir()
    rundir.chmod(0o777)
    (workdir / "conf.d").mkdir()
    conf = workdir / "ngircd.conf"
    # ngircd has no sendq setting: its per-client write buffer is fixed at compile
    # time. MaxPenaltyTime = 0 turns its command penalties (flood control) off.
    conf.write_text(
        textwrap.dedent(
            f"""\
            # Generated by benchmarks/servers.py: loopback only, high limits.
            [Global]
            \tName = {SERVER_NAME}
            \tInfo = ircpsyc benchmark
            \tAdminInfo1 = benchmark
            \tAdminInfo2 = benchmark
            \tAdminEMail = bench@{SERVER_NAME}
            \tListen = 127.0.0.1
            \tPorts = {port}
            \tMotdPhrase = benchmark
            \tPidFile = {rundir / "ngircd.pid"}
            [Limits]
            \tMaxConnections = 0
            \tMaxConnectionsIP = 0
            \tMaxJoins = 0
            \tMaxNickLength = 30
            \tMaxListSize = 1000
            \tMaxPenaltyTime = 0
            \tIdleTimeout = 0
            \tPingTimeout = 600
            \tPongTimeout = 600
            [Options]
            \tDNS = no
            \tIdent = no
            \tPAM = no
            \tIncludeDir = {workdir / "conf.d"}
            """
        )
    )
    return [binary, "-n", "-f", str(conf)]


def _start_inspircd(workdir: Path, port: int) -> list[str]:
    binary = shutil.which("inspircd") or "/usr/sbin/inspircd"
    if not Path(binary).exists():
        raise ServerError("inspircd is not installed (apt-get install inspircd)")
    motd = workdir / "motd.txt"
    motd.write_text("benchmark\n")
    conf = workdir / "inspircd.conf"
    # commandrate is in thousandths of a command per second: this one is a
    # million commands per second, i.e. no flood control; fakelag is off too.
    conf.write_text(
        textwrap.dedent(
            f"""\
            # Generated by benchmarks/servers.py: loopback only, high limits.
            <server name="{SERVER_NAME}" description="ircpsyc benchmark" network="bench">
            <admin name="benchmark" nick="bench" email="bench@{SERVER_NAME}">
            <bind address="127.0.0.1" port="{port}" type="clients">
            <connect name="bench" allow="127.0.0.1" maxchans="1000"
                     timeout="60" pingfreq="600"
                     hardsendq="{SENDQ_BYTES}" softsendq="{SENDQ_BYTES}" recvq="1048576"
                     threshold="1000000" commandrate="1000000000" fakelag="no"
                     localmax="{MAX_CLIENTS}" globalmax="{MAX_CLIENTS}" limit="{MAX_CLIENTS}"
                     maxconnwarn="no" resolvehostnames="no" useident="no">
            <files motd="{motd}">
            <channels users="1000" opers="1000">
            <pid file="{workdir / "inspircd.pid"}">
            <performance softlimit="{MAX_CLIENTS}" somaxconn="4096" clonesonconnect="no"
                         netbuffersize="65536" timeskipwarn="0">
            <security maxtargets="20" userstats="Pu">
            <log method="file" type="* -USERINPUT -USEROUTPUT" level="sparse"
                 target="{workdir / "inspircd.log"}">
            """
        )
    )
    argv = [binary, "--config", str(conf), "--nofork"]
    if os.geteuid() == 0:
        argv.append("--runasroot")
    return argv


def _spawn(spec: ServerSpec, argv: list[str], workdir: Path, port: int) -> ServerHandle:
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    env = None
    if spec.kind == "ircpsyc":
        # This checkout's code, whichever venv's interpreter runs it.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CODE), env.get("PYTHONPATH")) if p)
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=workdir,
            start_new_session=True,  # a ^C to the runner reaches us, and we stop it
        )
    logs = [stderr_path, stdout_path]
    if spec.kind == "inspircd":
        logs.append(workdir / "inspircd.log")
    handle = ServerHandle(spec=spec, host="127.0.0.1", port=port, proc=proc, workdir=workdir)
    handle.logs = logs
    _LIVE.add(handle)
    try:
        _wait_for_port("127.0.0.1", port, proc, _STARTUP_TIMEOUT)
    except ServerError as exc:
        tail = handle.log_tail()
        handle.stop(keep_workdir=True)
        raise ServerError(f"{spec.label} did not start: {exc}\n{tail}") from None
    return handle


def _wait_for_port(
    host: str, port: int, proc: subprocess.Popen[bytes] | None, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"exited with status {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise ServerError(f"nothing answered on {host}:{port} within {timeout:.0f}s ({last})")
