"""The server as a process: signals, reloads, the CLI and the TLS listener."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import (
    DATA_DIR,
    HOST,
    OPER_NAME,
    OPER_PASSWORD,
    REPO,
    SERVER_NAME,
    ServerProcess,
    ServerStarter,
    free_port,
)

from .support import RawClient, aio, connect_registered, find, numerics, unique


async def motd_text(client: RawClient) -> list[str]:
    await client.send("MOTD")
    lines = await client.collect("376", "422")
    return [m.params[-1].removeprefix("- ") for m in find(lines, "372")]


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "ircpsyc", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# --- signals ---------------------------------------------------------------------------


@aio
async def test_sigterm_says_goodbye_and_exits_zero(server: ServerProcess) -> None:
    channel = "#" + unique("bye")
    registered = await connect_registered(server.port)
    await registered.send(f"JOIN {channel}")
    await registered.expect("366")
    other = await connect_registered(server.port)
    unregistered = await RawClient.connect(server.port)
    await unregistered.send("NICK halfway")
    await other.sync()
    server.signal(signal.SIGTERM)
    for client in (registered, other, unregistered):
        closing = await client.until_closed(timeout=10)
        errors = find(closing, "ERROR")
        assert errors, (client.nick, closing)
        assert "shutting down" in errors[-1].params[-1].lower(), errors[-1].format()
    code = await asyncio.get_running_loop().run_in_executor(None, server.wait, 10)
    assert code == 0, server.log()
    # The listener is gone too.
    try:
        await RawClient.connect(server.port, timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("the port still accepts connections after SIGTERM")


@aio
async def test_sigint_exits_zero(server: ServerProcess) -> None:
    client = await connect_registered(server.port)
    server.signal(signal.SIGINT)
    assert find(await client.until_closed(timeout=10), "ERROR")
    code = await asyncio.get_running_loop().run_in_executor(None, server.wait, 10)
    assert code == 0, server.log()


@aio
async def test_sighup_reloads_config(server: ServerProcess) -> None:
    client = await connect_registered(server.port)
    assert await motd_text(client) == server.config["server"]["motd"].splitlines()
    server.write_config({"server": {"motd": "Reloaded by SIGHUP.\nLine two."}})
    mark = len(server.log())
    server.signal(signal.SIGHUP)
    server.wait_for_log("reloaded", start=mark)
    assert await motd_text(client) == ["Reloaded by SIGHUP.", "Line two."]
    # New connections see it too, and limits from the new file apply.
    server.write_config({"limits": {"topiclen": 20}})
    mark = len(server.log())
    server.signal(signal.SIGHUP)
    server.wait_for_log("reloaded", start=mark)
    fresh = await RawClient.connect(server.port)
    burst = await fresh.register(unique("fresh"))
    first_line = find(burst, "372")[0].params[-1].removeprefix("- ")
    assert first_line == "Reloaded by SIGHUP."
    assert any("TOPICLEN=20" in m.params for m in find(burst, "005")), (
        "TOPICLEN not updated by reload"
    )
    channel = "#" + unique("tl")
    await fresh.send(f"JOIN {channel}", f"TOPIC {channel} :{'t' * 50}")
    topic = await fresh.expect("TOPIC")
    assert topic.params[-1] == "t" * 20


@aio
async def test_broken_config_on_sighup_keeps_the_old_one(server: ServerProcess) -> None:
    client = await connect_registered(server.port)
    old = await motd_text(client)
    for broken in (
        "[server\nname = 'oops'\n",  # TOML syntax error
        "[server]\nname = 'nodots'\n",  # invalid value
        "[limits]\nflood_burst = 0\n",  # out of range
        "[bogus]\nkey = 1\n",  # unknown section
    ):
        server.write_config(raw=broken)
        mark = len(server.log())
        server.signal(signal.SIGHUP)
        server.wait_for_log("refused", start=mark)
        assert server.alive(), server.log()
        assert await motd_text(client) == old
    # The listener and the existing sessions are fine.
    await connect_registered(server.port)
    await client.sync()


@aio
async def test_rehash(server: ServerProcess) -> None:
    client = await connect_registered(server.port)
    await client.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await client.expect("381", timeout=10)
    # A broken file: REHASH says so and keeps the old configuration.
    old = await motd_text(client)
    server.write_config(raw="this is not toml\n")
    await client.send("REHASH")
    await client.expect("382")
    failure = await client.expect("FAIL", "NOTICE", timeout=5)
    text = " ".join(failure.params).lower()
    assert "toml" in text or "error" in text, failure.format()
    assert await motd_text(client) == old
    assert server.alive()
    # A good file: REHASH applies it.
    server.write_config({"server": {"motd": "After REHASH."}})
    await client.send("REHASH")
    await client.expect("382")
    lines = await client.sync()
    assert not find(lines, "FAIL"), lines
    assert await motd_text(client) == ["After REHASH."]
    # An empty motd means ERR_NOMOTD.
    server.write_config({"server": {"motd": ""}})
    await client.send("REHASH")
    await client.expect("382")
    await client.send("MOTD")
    assert "422" in numerics(await client.collect("376", "422"))


def test_kill_9_then_restart_on_the_same_data(ircpsyc_server: ServerStarter) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    first.signal(signal.SIGKILL)
    first.wait(10)
    second = ircpsyc_server({"storage": {"path": storage}})

    async def talk() -> None:
        await connect_registered(second.port)

    aio(talk)()
    assert "Traceback" not in second.log()


# --- the command line -----------------------------------------------------------------------


def test_check_config(server: ServerProcess, tmp_path: Path) -> None:
    result = run_cli("check-config", str(server.config_path))
    assert result.returncode == 0, result.stderr
    assert SERVER_NAME in result.stdout
    assert "OK" in result.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[limits]\nmax_clients = -1\n", encoding="utf-8")
    result = run_cli("check-config", str(broken))
    assert result.returncode == 2
    assert "limits.max_clients" in result.stderr


def test_serve_from_command_line_options(tmp_path: Path) -> None:
    """``ircpsyc serve --listen HOST:PORT --data-dir DIR --name NAME`` without a file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    name = "cli.test.example"
    for _attempt in range(3):
        port = free_port()
        log_path = tmp_path / f"serve-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ircpsyc",
                    "serve",
                    "--listen",
                    f"{HOST}:{port}",
                    "--data-dir",
                    str(tmp_path / "data"),
                    "--name",
                    name,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=tmp_path,
                env=env,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(OSError):
                    socket.create_connection((HOST, port), timeout=0.5).close()
                    break
                time.sleep(0.05)
            if proc.poll() is not None:
                if "in use" in log_path.read_text(errors="replace"):
                    continue
                raise AssertionError(log_path.read_text(errors="replace"))

            async def talk(port: int = port) -> None:
                client = await RawClient.connect(port)
                burst = await client.register(unique("cli"))
                assert find(burst, "001")[0].source == name

            aio(talk)()
            assert (tmp_path / "data" / "ircpsyc.sqlite3").exists()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
    raise AssertionError("could not find a free port in 3 attempts")


# --- TLS --------------------------------------------------------------------------------------


@aio
async def test_tls_listener(ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path]) -> None:
    server = ircpsyc_server(tls=tls_cert)
    assert server.tls_port is not None
    secure = await RawClient.connect(server.tls_port, tls=True)
    cert = secure.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    assert cert == _der(tls_cert[0])
    await secure.register(unique("tls"))
    plain = await connect_registered(server.port)
    await plain.send(f"WHOIS {secure.nick}")
    lines = await plain.collect("318")
    assert "671" in numerics(lines), lines
    await plain.send(f"WHOIS {plain.nick}")
    assert "671" not in numerics(await plain.collect("318"))
    # Plain and TLS users talk to each other.
    await secure.send(f"PRIVMSG {plain.nick} :over TLS")
    assert (await plain.expect("PRIVMSG")).params[-1] == "over TLS"
    # A plain-text client on the TLS port does not get a session.
    confused = await RawClient.connect(server.tls_port)
    await confused.send("NICK confused", "USER c 0 * :c")
    lines = await confused.until_closed(timeout=10)
    assert not find(lines, "001")
    await secure.sync()
    # SIGHUP with TLS configured keeps the listener working.
    mark = len(server.log())
    server.signal(signal.SIGHUP)
    server.wait_for_log("reloaded", start=mark)
    again = await RawClient.connect(server.tls_port, tls=True)
    await again.register(unique("tls"))


def _der(pem_path: Path) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(pem_path.read_text(encoding="ascii"))


def _peer_der(client: RawClient) -> bytes:
    return bytes(client.writer.get_extra_info("ssl_object").getpeercert(binary_form=True))


@aio
async def test_tls_certificate_reload(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path]
) -> None:
    server = ircpsyc_server(tls=tls_cert)
    assert server.tls_port is not None
    oper = await connect_registered(server.tls_port, tls=True)
    assert _peer_der(oper) == _der(tls_cert[0])
    await oper.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await oper.expect("381", timeout=10)
    # A certificate file that does not exist: REHASH refuses, TLS keeps working.
    server.write_config({"tls": {"cert": str(tls_cert[0]) + ".missing"}})
    await oper.send("REHASH")
    await oper.expect("382")
    await oper.expect("FAIL", "NOTICE")
    probe = await RawClient.connect(server.tls_port, tls=True)
    assert _peer_der(probe) == _der(tls_cert[0])
    probe.drop()
    # Another valid pair: SIGHUP makes new handshakes use it; old sessions live on.
    other_cert, other_key = DATA_DIR / "tls-cert.pem", DATA_DIR / "tls-key.pem"
    server.write_config({"tls": {"cert": str(other_cert), "key": str(other_key)}})
    mark = len(server.log())
    server.signal(signal.SIGHUP)
    server.wait_for_log("reloaded", start=mark)
    fresh = await RawClient.connect(server.tls_port, tls=True)
    assert _peer_der(fresh) == _der(other_cert)
    await fresh.register(unique("tls"))
    await oper.sync()


@aio
async def test_sighup_says_xmpp_changes_need_a_restart(server: ServerProcess) -> None:
    server.write_config({"xmpp": {"domain": "irc.changed.example"}})
    mark = len(server.log())
    server.signal(signal.SIGHUP)
    server.wait_for_log("reloaded", start=mark)
    assert "[xmpp] changes take effect at the next restart" in server.log()[mark:]
    assert server.alive()


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "ircpsyc", "serve", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


def test_serve_names_a_listen_address_that_does_not_resolve(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--listen", "127.0.0.1:0", "--listen", "no-such-host.invalid:6667")
    assert done.returncode == 2, done.stderr
    assert "listen.irc[1]: no-such-host.invalid:6667: cannot resolve" in done.stderr


def test_serve_names_a_listen_address_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(tmp_path, "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 1, done.stderr
    assert f"listen.irc[0]: 127.0.0.1:{port}:" in done.stderr


@aio
async def test_the_start_up_log_says_which_listener_is_tls(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path]
) -> None:
    web = free_port()
    server = ircpsyc_server({"listen": {"web": [f"127.0.0.1:{web}"]}}, tls=tls_cert)
    server.wait_for_log("listening on")
    assert f"127.0.0.1:{server.port} (IRC)" in server.log()
    assert f"127.0.0.1:{server.tls_port} (IRC over TLS)" in server.log()
    assert f"127.0.0.1:{web} (web)" in server.log()
