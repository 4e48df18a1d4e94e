"""Tests for the ircpsyc command line (everything but a running `serve`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ircpsyc import __version__
from ircpsyc.cli import main
from ircpsyc.config import default_toml
from ircpsyc.passwords import verify_password

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def runner() -> CliRunner:
    try:
        # click 8.1 mixes stderr into stdout unless told not to; 8.2 dropped the flag.
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_init_then_check_config(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ircpsyc.toml"
    result = runner.invoke(main, ["init", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == default_toml()

    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "irc.localhost" in result.stdout
    assert "127.0.0.1:6667" in result.stdout
    assert "OK" in result.stdout
    assert result.stderr == ""


def test_init_default_path(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ircpsyc.toml").read_text(encoding="utf-8") == default_toml()


def test_init_refuses_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ircpsyc.toml"
    path.write_text("# mine\n", encoding="utf-8")
    result = runner.invoke(main, ["init", str(path)])
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert path.read_text(encoding="utf-8") == "# mine\n"

    result = runner.invoke(main, ["init", "--force", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == default_toml()


def test_init_unwritable(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["init", str(tmp_path / "no" / "such" / "dir.toml")])
    assert result.exit_code == 1
    assert "cannot write" in result.stderr


def test_check_config_error(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[limits]\nnicklen = 0\n", encoding="utf-8")
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: limits.nicklen: ")
    assert "OK" not in result.stdout


def test_check_config_error_with_brackets(runner: CliRunner, tmp_path: Path) -> None:
    # Keys like opers[0] must reach the user verbatim, not be eaten as markup.
    path = tmp_path / "bad.toml"
    path.write_text('[[opers]]\nname = "a"\npassword_hash = "x"\n', encoding="utf-8")
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: opers[0].password_hash: " in result.stderr


def test_check_config_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["check-config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert "absent.toml" in result.stderr


def test_check_config_shows_bracketed_values(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "v6.toml"
    path.write_text('[listen]\nirc = ["[::1]:6667"]\n', encoding="utf-8")
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "[::1]:6667" in result.stdout


def test_mkpasswd_argument(runner: CliRunner) -> None:
    result = runner.invoke(main, ["mkpasswd", "hunter2"])
    assert result.exit_code == 0, result.output
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "hunter2")
    assert not verify_password(hashed, "hunter3")


def test_mkpasswd_prompt(runner: CliRunner) -> None:
    result = runner.invoke(main, ["mkpasswd"], input="hunter2\nhunter2\n")
    assert result.exit_code == 0, result.output
    hashed = result.stdout.strip().splitlines()[-1]
    assert verify_password(hashed, "hunter2")
    assert "hunter2" not in result.stdout  # hidden input is not echoed


def test_mkpasswd_empty(runner: CliRunner) -> None:
    result = runner.invoke(main, ["mkpasswd", ""])
    assert result.exit_code == 1
    assert "empty" in result.stderr


def test_serve_config_error_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    # The config is checked before the server module is even imported.
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nbogus = 1\n", encoding="utf-8")
    result = runner.invoke(main, ["serve", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: server.bogus: unknown key" in result.stderr


def test_serve_bad_listen_option_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve", "--listen", "nowhere"])
    assert result.exit_code == 2
    assert "<command line>: listen.irc[0]: " in result.stderr


def test_python_m_check_config_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[listen]\nirc = ["127.0.0.1:70000"]\n', encoding="utf-8")
    env = dict(os.environ)
    # Work from a source checkout too, not only from an installed package.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "ircpsyc", "check-config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{path}: listen.irc[0]: " in proc.stderr
    assert "out of range" in proc.stderr
    assert proc.stdout == ""


def test_check_config_lists_every_error(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[limits]\nnicklen = 0\nmax_clients = "many"\n'
        '[listen]\nirc = ["999.1.1.1:6667", "127.0.0.1:99999"]\n'
        "[nosuch]\nx = 1\n"
        '[[opers]]\nname = "a"\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    for key in (
        "limits.nicklen",
        "limits.max_clients",
        "listen.irc[0]",
        "listen.irc[1]",
        "nosuch",
        "opers[0].password_hash",
    ):
        assert any(line.startswith(f"{path}: {key}: ") for line in lines), (key, lines)
    assert "999.1.1.1 is not a valid IP address" in result.stderr


def test_check_config_lists_every_cross_key_error(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[listen]\nirc_tls = ["127.0.0.1:6697"]\n'
        '[network]\nservers = ["other.example"]\n'
        "[xmpp]\nenabled = true\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    for key in ("tls.cert", "tls.key", "network.servers", "xmpp.domain", "xmpp.secret"):
        assert f"{path}: {key}: " in result.stderr, (key, result.stderr)


def test_check_config_summary_names_network_sts_and_xmpp(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        '[server]\nname = "a.test"\n'
        '[network]\nservers = ["a.test", "b.test"]\n'
        '[[links]]\nname = "b.test"\naddress = "127.0.0.1:4405"\nsecret = "0123456789abcdef"\n'
        '[xmpp]\nenabled = true\ndomain = "irc.a.test"\nsecret = "s"\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.replace("│", " ").split())
    assert "network servers a.test, b.test" in out
    assert "STS off" in out
    assert "irc.a.test via 127.0.0.1:5347" in out


def test_check_config_links_outside_network_servers(runner: CliRunner, tmp_path: Path) -> None:
    """Issue 15's trap: servers with [[links]] but without [network] servers each had
    their own #chan.  Such a configuration is refused, saying why."""
    path = tmp_path / "a.toml"
    secret = "x" * 32
    link = f'[[links]]\nname = "b.test"\naddress = "127.0.0.1:4405"\nsecret = "{secret}"\n'
    path.write_text(f'[server]\nname = "a.test"\n\n{link}', encoding="utf-8")
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: network.servers: must list every server of [[links]]" in result.stderr
    assert "b.test missing" in result.stderr
    path.write_text(
        f'[server]\nname = "a.test"\n\n[network]\nservers = ["a.test", "b.test"]\n\n{link}',
        encoding="utf-8",
    )
    assert runner.invoke(main, ["check-config", str(path)]).exit_code == 0


def test_check_config_names_a_bad_federation_host(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[federation]\nallow_hosts = ["*", "10.0.0.0/33"]\ndeny_hosts = ["exa mple.org"]\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: federation.allow_hosts[1]: '10.0.0.0/33' is not an address" in result.stderr
    assert f"{path}: federation.deny_hosts[0]: 'exa mple.org' must be" in result.stderr
