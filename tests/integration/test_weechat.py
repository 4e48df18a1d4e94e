"""A real modern client against the real server: WeeChat (Debian's weechat-headless).

WeeChat runs headless in a temporary home (``--dir``) with three plugins: irc,
logger (every buffer written to a file as soon as a line is printed) and fifo
(the test types commands into WeeChat through its pipe).  The ``-r`` startup
commands add the server on 127.0.0.1 without TLS, ask for every capability
WeeChat implements (``capabilities = "*"``), open the irc raw buffer and have the
logger record it too, so the test reads what went over the wire in both
directions, IRCv3 tags included.  A raw-socket client talks with WeeChat in a
channel.

server-time is shown to be *used*, not only negotiated: WeeChat is stopped
(SIGSTOP) while the raw client's message arrives and resumed two seconds later;
the logger's timestamp of the message is the ``@time`` of the tag, not the
moment WeeChat read it.

Without weechat-headless installed the test fails and says how to install it.
WeeChat is always killed (its process group, by pid) when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import irctokens
import pytest
from conftest import ServerProcess, ServerStarter
from irctokens.line import Line

from .support import aio, connect_registered, unique

WEECHAT = "weechat-headless"
PLUGINS = ("irc", "logger", "fifo")  # fifo.so is in weechat-plugins, only a Recommends
INSTALL = "apt-get install weechat-headless weechat-plugins"
SERVER = "ircpsyc"  # the server's name inside WeeChat
WAIT = 8.0  # seconds for one thing WeeChat should do
STOPPED = 2.2  # seconds WeeChat is kept stopped while a message arrives
LOG_TIME = "%Y-%m-%d %H:%M:%S"
# What WeeChat 3.8 asks for with "*" (all it implements) that the server must grant.
WANTED = {
    "server-time",
    "message-tags",
    "account-notify",
    "away-notify",
    "extended-join",
    "multi-prefix",
    "cap-notify",
    "chghost",
    "invite-notify",
    "setname",
    "userhost-in-names",
}


class WeeChat:
    """One weechat-headless process, its fifo and its logger files."""

    def __init__(
        self,
        binary: str,
        home: Path,
        port: int,
        nick: str,
        channel: str,
        sasl: tuple[str, str] | None = None,
    ) -> None:
        self.home = home
        self.nick = nick
        self.channel = channel
        home.mkdir(parents=True, exist_ok=True)
        commands = [
            '/set irc.server_default.capabilities "*"',
            "/set irc.server_default.anti_flood_prio_high 0",
            "/set irc.server_default.anti_flood_prio_low 0",
            "/set irc.server_default.autoreconnect off",
            "/set logger.file.flush_delay 0",
            f'/set logger.file.time_format "{LOG_TIME}"',
            f"/server add {SERVER} 127.0.0.1/{port} -notls -nicks={nick} "
            f"-username=wee -realname=WeeChat -autojoin={channel}"
            + (
                f" -sasl_mechanism=plain -sasl_username={sasl[0]} -sasl_password={sasl[1]}"
                if sasl is not None
                else ""
            ),
            "/server raw",
            "/command -buffer irc.irc_raw * /buffer set localvar_del_no_log",
            "/command -buffer irc.irc_raw * /logger set 9",
            f"/connect {SERVER}",
        ]
        argv = [binary, "--dir", str(home), "--plugins", ",".join(PLUGINS), "--stdout"]
        for command in commands:
            argv += ["--run-command", command]
        env = dict(os.environ, TZ="UTC", LC_ALL="C.UTF-8")  # log timestamps in UTC
        self.stdout_path = home / "weechat.stdout"
        with open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=home,
                env=env,
                start_new_session=True,  # its own process group, killed as one
            )
        self.fifo = home / f"weechat_fifo_{self.proc.pid}"
        self.logs = home / "logs"

    # -- files

    def log(self, buffer: str) -> list[str]:
        """The lines the logger wrote for a buffer (``irc.irc_raw``, ``irc.server.NAME``...)."""
        try:
            text = (self.logs / f"{buffer}.weechatlog").read_text("utf-8", "replace")
        except FileNotFoundError:
            return []
        return text.splitlines()

    @property
    def channel_buffer(self) -> str:
        return f"irc.{SERVER}.{self.channel.lower()}"

    def raw(self, direction: str) -> list[Line]:
        """IRC lines of the raw buffer: "-->" received by WeeChat, "<--" sent by it."""
        lines = []
        for entry in self.log("irc.irc_raw"):
            parts = entry.split("\t", 2)
            if len(parts) == 3 and parts[1].startswith(direction + " "):
                lines.append(irctokens.tokenise(parts[2]))
        return lines

    def report(self) -> str:
        """Everything WeeChat wrote, for a failure message."""
        out = [f"--- {self.stdout_path}:", self.stdout_path.read_text("utf-8", "replace")]
        for path in sorted(self.logs.glob("*.weechatlog")) if self.logs.is_dir() else []:
            out += [f"--- {path}:", path.read_text("utf-8", "replace")]
        return "\n".join(out)

    # -- control

    async def wait_for(self, what: str, check: Callable[[], object], timeout: float = WAIT) -> Any:
        """Poll `check` until it returns something true (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if self.proc.poll() is not None:
                raise AssertionError(f"weechat exited ({self.proc.returncode}) before {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"weechat: no {what} within {timeout}s")
            await asyncio.sleep(0.05)

    async def command(self, text: str) -> None:
        """One fifo line: ``*/command`` for the core buffer, ``BUFFER *text`` to type text."""
        await self.wait_for(f"fifo {self.fifo}", self.fifo.exists)
        try:
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: nobody reads the fifo (WeeChat gone)
            raise AssertionError(f"cannot write to {self.fifo}: {exc}") from exc
        try:
            os.write(fd, text.encode("utf-8") + b"\n")
        finally:
            os.close(fd)

    def kill(self) -> None:
        """SIGKILL WeeChat's process group (a no-op once it has exited and been reaped)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def tag_time(line: Line) -> dt.datetime:
    """The server-time tag of a line, as an aware datetime."""
    assert line.tags and "time" in line.tags, f"no server-time tag: {line.format()}"
    value = line.tags["time"]
    assert value.endswith("Z") and len(value) == 24, f"not millisecond UTC: {value}"
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def logged_time(entry: str) -> dt.datetime:
    return dt.datetime.strptime(entry.split("\t", 1)[0], LOG_TIME).replace(tzinfo=dt.UTC)


def find_line(lines: list[Line], command: str, where: Callable[[Line], bool]) -> Line | None:
    return next((m for m in lines if m.command == command and where(m)), None)


def weechat_binary() -> str:
    """weechat-headless, or a failure (never a skip) that says how to install it."""
    binary = shutil.which(WEECHAT)
    if binary is None:
        pytest.fail(
            f"{WEECHAT} is not installed: `{INSTALL}` (Debian's packages; .ci/run installs them)",
            pytrace=False,
        )
    return binary


@aio
async def test_weechat_caps_join_talk_server_time(
    ircpsyc_server: ServerStarter, tmp_path: Path
) -> None:
    binary = weechat_binary()  # first: no server started for nothing
    server = ircpsyc_server()
    nick = unique("wee")
    channel = "#" + unique("wc")
    weechat = WeeChat(binary, tmp_path / "weechat", server.port, nick, channel)
    try:
        await talk(weechat, server)
    except BaseException:
        print(weechat.report())  # shown with the failure: stdout and every buffer's log
        raise
    finally:
        weechat.kill()
    assert weechat.proc.returncode == 0, weechat.report()


async def talk(wc: WeeChat, server: ServerProcess) -> None:
    nick, channel = wc.nick, wc.channel

    # 0. WeeChat has the plugins the test drives it with.
    def plugins_loaded() -> str | None:
        return next((e for e in wc.log("core.weechat") if "\tPlugins loaded: " in e), None)

    loaded = await wc.wait_for("plugins loaded", plugins_loaded)
    missing = set(PLUGINS) - set(loaded.split("Plugins loaded: ", 1)[1].split(", "))
    assert not missing, f"WeeChat plugins {sorted(missing)} are missing: `{INSTALL}`"

    # 1. Capability negotiation, as WeeChat saw it.
    def join_done() -> bool:
        return any(m.command == "366" for m in wc.raw("-->"))

    await wc.wait_for(f"366 for {channel}", join_done)
    sent, got = wc.raw("<--"), wc.raw("-->")
    assert find_line(sent, "CAP", lambda m: m.params[:2] == ["LS", "302"])
    ls = [m for m in got if m.command == "CAP" and m.params[1] == "LS"]  # maybe 2 lines
    assert ls
    offered = {cap.split("=", 1)[0] for m in ls for cap in m.params[-1].split()}
    assert offered >= WANTED, offered
    req = find_line(sent, "CAP", lambda m: m.params[0] == "REQ")
    assert req is not None
    requested = set(req.params[-1].split())
    assert requested >= WANTED, f"WeeChat asked for {requested}"
    ack = find_line(got, "CAP", lambda m: m.params[1] in ("ACK", "NAK"))
    assert ack is not None and ack.params[1] == "ACK"
    assert set(ack.params[-1].split()) == requested, ack.format()
    assert find_line(sent, "CAP", lambda m: m.params == ["END"])
    server_log = wc.log(f"irc.server.{SERVER}")
    enabled = next((e for e in server_log if "capability, enabled:" in e), "enabled:")
    assert "server-time" in enabled.split("enabled:", 1)[1].split(), enabled
    assert find_line(got, "001", lambda m: m.params[0] == nick)

    # WeeChat's own JOIN came back with server-time, a msgid and extended-join's fields.
    own_join = find_line(
        got, "JOIN", lambda m: m.source is not None and m.hostmask.nickname == nick
    )
    assert own_join is not None
    tag_time(own_join)
    assert own_join.tags and own_join.tags.get("msgid"), own_join.format()
    assert own_join.params == [channel, "*", "WeeChat"], own_join.format()

    # 2. A raw-socket client joins; WeeChat sees it join.
    other = unique("raw")
    client = await connect_registered(server.port, other, caps=["server-time", "message-tags"])
    await client.send(f"JOIN {channel}")
    names = await client.collect("366")
    assert any(nick in m.params[-1] for m in names if m.command == "353"), names

    def their_join() -> Line | None:
        return find_line(
            wc.raw("-->"), "JOIN", lambda m: m.source is not None and m.hostmask.nickname == other
        )

    tag_time(await wc.wait_for(f"JOIN of {other}", their_join))

    # 3. The raw client talks while WeeChat is stopped; WeeChat dates the message by its tag.
    text = f"hello from {other} to a real client"
    os.kill(wc.proc.pid, signal.SIGSTOP)
    try:
        await client.send(f"PRIVMSG {channel} :{text}")
        await client.sync()  # the server has handled (and stamped) the message
        await asyncio.sleep(STOPPED)
    finally:
        os.kill(wc.proc.pid, signal.SIGCONT)
    resumed = dt.datetime.now(dt.UTC)

    def their_message() -> Line | None:
        return find_line(wc.raw("-->"), "PRIVMSG", lambda m: m.params == [channel, text])

    def shown() -> str | None:
        return next((e for e in wc.log(wc.channel_buffer) if e.endswith("\t" + text)), None)

    privmsg = await wc.wait_for("the raw client's PRIVMSG", their_message)
    assert privmsg.hostmask.nickname == other, privmsg.format()
    assert privmsg.tags and privmsg.tags.get("msgid"), privmsg.format()
    stamped = tag_time(privmsg)
    entry = await wc.wait_for("the raw client's message in the channel buffer", shown)
    assert entry.split("\t")[1].endswith(other), entry
    assert resumed - stamped >= dt.timedelta(seconds=STOPPED - 0.2), (resumed, stamped)
    # WeeChat read the line at least two seconds after the server stamped it and
    # still dated it with the tag (whole seconds): it uses server-time.
    assert logged_time(entry) == stamped.replace(microsecond=0), (entry, privmsg.format())

    # 4. WeeChat talks: text typed into the channel buffer through the fifo.
    reply = f"hello {other}, this is WeeChat"
    await wc.command(f"{wc.channel_buffer} *{reply}")
    heard = await client.expect("PRIVMSG", where=lambda m: m.params == [channel, reply])
    assert heard.hostmask.nickname == nick, heard.format()
    tag_time(heard)
    assert heard.tags and heard.tags.get("msgid"), heard.format()
    assert find_line(wc.raw("<--"), "PRIVMSG", lambda m: m.params == [channel, reply])

    # 5. WeeChat quits cleanly; the raw client sees it go.
    await wc.command(f"irc.server.{SERVER} */quit see you")
    quit_ = await client.expect("QUIT", where=lambda m: m.hostmask.nickname == nick)
    assert quit_.params[-1].endswith("see you"), quit_.format()
    try:
        await asyncio.to_thread(wc.proc.wait, WAIT)
    except subprocess.TimeoutExpired:
        raise AssertionError("weechat did not exit after /quit") from None

    # 6. WeeChat complained about nothing the server sent (its error prefix is "=!=").
    buffers = ("core.weechat", f"irc.server.{SERVER}", wc.channel_buffer)
    errors = [e for b in buffers for e in wc.log(b) if e.split("\t")[1:2] == ["=!="]]
    assert not errors, "\n".join(errors)


@aio
async def test_weechat_reconnects_and_sees_what_it_missed(
    ircpsyc_server: ServerStarter, tmp_path: Path
) -> None:
    """WeeChat 3.8 has server-time but no batch: what its device (SASL
    `account@weechat`) missed comes back as the original lines from their sender, in
    the channel's buffer and in a query buffer, the time before the text."""
    binary = weechat_binary()
    server = ircpsyc_server()
    account, channel, password = unique("wr"), "#" + unique("wrc"), "wee-pass"
    first = await connect_registered(server.port, account)
    await first.send(f"PRIVMSG NickServ :REGISTER {password}")
    await first.expect("900")
    await first.quit()
    wc = WeeChat(
        binary,
        tmp_path / "weechat",
        server.port,
        account,
        channel,
        sasl=(f"{account}@weechat", password),
    )
    try:
        await wc.wait_for(
            f"366 for {channel}", lambda: any(m.command == "366" for m in wc.raw("-->"))
        )
        assert find_line(wc.raw("-->"), "903", lambda m: True), "SASL did not succeed"
        other = unique("raw")
        client = await connect_registered(server.port, other)
        await client.send(f"JOIN {channel}")
        await client.collect("366")
        await wc.command(f"irc.server.{SERVER} */disconnect")
        # The account's person is always-on (the default): it stays, shown away.
        for _ in range(50):
            await client.send(f"WHOIS {account}")
            if find_line(await client.collect("318"), "301", lambda m: True):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the always-on person was not shown away")
        await client.send(f"PRIVMSG {channel} :said while you were gone")
        await client.send(f"PRIVMSG {account} :a private word")
        await client.sync()
        await wc.command(f"irc.server.{SERVER} */connect {SERVER}")

        def in_buffer(buffer: str, text: str) -> str | None:
            pattern = re.compile(r"\[\d\d:\d\d\] " + re.escape(text) + "$")
            return next((e for e in wc.log(buffer) if pattern.search(e)), None)

        said = await wc.wait_for(
            "the channel line replayed",
            lambda: in_buffer(wc.channel_buffer, "said while you were gone"),
        )
        assert said.split("\t")[1].endswith(other), said
        query = f"irc.{SERVER}.{other.lower()}"
        private = await wc.wait_for(
            "the private message replayed", lambda: in_buffer(query, "a private word")
        )
        assert private.split("\t")[1].endswith(other), private
        status = wc.log(f"irc.server.{SERVER}")
        assert not any("said while you were gone" in e for e in status), status
    except BaseException:
        print(wc.report())
        raise
    finally:
        wc.kill()


def test_without_weechat_the_test_fails_and_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install weechat-headless"):
        weechat_binary()
