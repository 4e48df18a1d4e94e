"""Tests for ircpsyc.config and ircpsyc.passwords."""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import shutil
import subprocess
import textwrap
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ircpsyc import config
from ircpsyc.cli import main
from ircpsyc.config import Config, ConfigError, Overrides, load, parse_hostport
from ircpsyc.passwords import hash_password, is_argon2_hash, verify_password

MAN_PAGE = Path(__file__).resolve().parent.parent / "man" / "ircpsyc.toml.5"


@pytest.fixture(scope="module")
def good_hash() -> str:
    return hash_password("s3cret")


def write(tmp_path: Path, text: str, name: str = "ircpsyc.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    assert err.file == path
    assert str(err).startswith(f"{path}: ")
    return err


# --- defaults ------------------------------------------------------------------


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load(None)
    assert cfg.source == "<defaults>"
    assert cfg.server.name == "irc.localhost"
    assert cfg.server.network == "ircpsyc"
    assert cfg.server.motd == "Welcome to ircpsyc."
    assert cfg.listen.irc == ("127.0.0.1:6667",)
    assert cfg.listen.irc_addrs == (("127.0.0.1", 6667),)
    assert cfg.listen.irc_tls == ()
    assert cfg.tls.cert == "" and cfg.tls.key == ""
    # Relative default resolves against the current directory when there is no file.
    assert cfg.storage.path == str(tmp_path / "ircpsyc-data" / "ircpsyc.sqlite3")
    assert cfg.limits.nicklen == 30
    assert cfg.limits.flood_rate == 4.0
    assert isinstance(cfg.limits.ping_interval, float)
    assert cfg.opers == ()


def test_default_toml_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = config.default_toml()
    tomllib.loads(text)  # valid TOML
    path = write(tmp_path, text)
    assert load(path) == dataclasses.replace(load(None), source=path)


def test_default_toml_mentions_every_key() -> None:
    text = config.default_toml()
    for key in config.schema_keys():
        header = f"[[{key.section}]]" if key.array_section else f"[{key.section}]"
        assert header in text
        assert re.search(rf"^#?{key.name} = ", text, re.M), key
        # The help text is there too (its first words, before wrapping).
        assert " ".join(key.help.split()[:3]) in text.replace("\n# ", " ").replace("\n## ", " ")


def test_default_toml_opers_example_is_valid_shape(good_hash: str, tmp_path: Path) -> None:
    # Uncommenting the example with a real hash must give a working oper.
    text = config.default_toml()
    example = text[text.index("#[[opers]]") :]
    lines = [
        ln[1:] for ln in example.splitlines() if ln.startswith("#") and not ln.startswith("##")
    ]
    body = "\n".join(ln for ln in lines if ln.strip())
    body = re.sub(r'password_hash = ".*"', f'password_hash = "{good_hash}"', body)
    cfg = load(write(tmp_path, body))
    assert cfg.opers[0].name == "admin"
    assert cfg.opers[0].hostmask == "*@*"


def test_man_page_documents_every_key() -> None:
    page = MAN_PAGE.read_text(encoding="utf-8")
    # Split the page into its .SS subsections: "[server]" -> text.
    parts = re.split(r"^\.SS (.+)$", page, flags=re.M)
    sections = {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}
    for key in config.schema_keys():
        header = f"[[{key.section}]]" if key.array_section else f"[{key.section}]"
        assert header in sections, f"man page lacks section {header}"
        entry = re.search(rf"^\.BR? {re.escape(key.name)}\b(.*)$", sections[header], re.M)
        assert entry, f"man page lacks {header} {key.name}"
        typed = re.search(r'\(([a-z ]+?)(?:,| ?\)|"|$)', entry.group(1))
        if typed:  # entries of required keys say "(string, required)" and the like
            assert typed.group(1) == key.type_name, (
                f"man page types {header} {key.name} as {typed.group(1)}, the code "
                f"as {key.type_name}"
            )


def test_schema_keys_cover_config() -> None:
    keys = {(k.section, k.name) for k in config.schema_keys()}
    assert ("limits", "nicklen") in keys
    assert ("opers", "password_hash") in keys
    required = {(k.section, k.name) for k in config.schema_keys() if k.required}
    assert required == {
        ("opers", "name"),
        ("opers", "password_hash"),
        ("oper_classes", "name"),
        ("links", "name"),
        ("links", "secret"),
        ("webirc", "password_hash"),
        ("webirc", "hosts"),
    }


# --- errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[nope]\nx = 1\n", "nope", "unknown key"),
        ("stray = 1\n", "stray", "unknown key"),
        ("[limits]\nnicklenn = 3\n", "limits.nicklenn", "did you mean 'nicklen'"),
        ("[server]\nname = 5\n", "server.name", "expected string, got integer"),
        ('[limits]\nnicklen = "30"\n', "limits.nicklen", "expected integer, got string"),
        ("[limits]\nnicklen = true\n", "limits.nicklen", "expected integer, got boolean"),
        ("[limits]\nnicklen = 3.5\n", "limits.nicklen", "expected integer, got float"),
        ("[limits]\nflood_rate = true\n", "limits.flood_rate", "expected number, got boolean"),
        ("[limits]\nping_timeout = inf\n", "limits.ping_timeout", "finite"),
        ("[limits]\nnicklen = 0\n", "limits.nicklen", "at least 1"),
        ("[limits]\nmax_bans = -5\n", "limits.max_bans", "at least 1"),
        ("[limits]\nflood_rate = -0.5\n", "limits.flood_rate", "at least 0"),
        ("[limits]\nping_timeout = 0\n", "limits.ping_timeout", "greater than 0"),
        ('[listen]\nirc = "127.0.0.1:6667"\n', "listen.irc", "expected array of strings"),
        ("[listen]\nirc = [6667]\n", "listen.irc[0]", "expected string, got integer"),
        ("server = 1\n", "server", "expected table"),
        ('[server]\nname = "localhost"\n', "server.name", "hostname with a dot"),
        ('[server]\nname = "irc example.org"\n', "server.name", "not a hostname"),
        ('[server]\nnetwork = "my net"\n', "server.network", "spaces"),
        ('[server]\ndescription = "a\\nb"\n', "server.description", "single line"),
        ("[listen]\nirc = []\n", "listen.irc", "no listeners"),
        (
            '[listen]\nirc = ["127.0.0.1:6667"]\nirc_tls = ["127.0.0.1:6667"]\n',
            "listen.irc_tls[0]",
            "already used by listen.irc[0]",
        ),
        (
            '[listen]\nweb = ["127.0.0.1:6667"]\n',
            "listen.web[0]",
            "already used by listen.irc[0]",
        ),
        ('[listen]\nweb_tls = ["127.0.0.1:8443"]\n', "tls.cert", "listen.web_tls"),
        ('[web]\norigins = ["chat.example.org"]\n', "web.origins[0]", "web origin"),
        (
            '[web]\ntrusted_proxies = ["10.0.0.0/33"]\n',
            "web.trusted_proxies[0]",
            "not an address or network",
        ),
        ("[web]\nping_interval = 0\n", "web.ping_interval", "greater than 0"),
        ('[[webirc]]\nhosts = ["127.0.0.1"]\n', "webirc[0].password_hash", "required"),
    ],
)
def test_schema_errors(tmp_path: Path, text: str, key: str, reason: str) -> None:
    err = load_error(tmp_path, text)
    assert err.key == key
    assert reason in err.reason
    assert str(err) == f"{err.file}: {key}: {err.reason}"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("localhost", "expected HOST:PORT"),
        ("localhost:http", "not a number"),
        ("localhost:", "not a number"),
        (":6667", "missing host"),
        ("::1:6667", "brackets"),
        ("[::1]6667", "expected [ADDRESS]:PORT"),
        ("[::1:6667", "missing ']'"),
        ("[127.0.0.1]:6667", "only for IPv6"),
        ("localhost:-1", "not a number"),
        ("localhost:65536", "out of range"),
        ("localhost:99999999", "out of range"),
    ],
)
def test_bad_hostport(tmp_path: Path, entry: str, reason: str) -> None:
    err = load_error(tmp_path, f'[listen]\nirc = ["127.0.0.1:0", "{entry}"]\n')
    assert err.key == "listen.irc[1]"
    assert reason in err.reason
    assert entry in err.reason  # the user sees which entry is wrong


def test_bad_tls_listener_entry(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[listen]\nirc_tls = ["nope"]\n')
    assert err.key == "listen.irc_tls[0]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:6667", ("127.0.0.1", 6667)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("irc.example.org:6697", ("irc.example.org", 6697)),
        ("[::1]:6667", ("::1", 6667)),
        ("[::]:65535", ("::", 65535)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


def test_listen_addresses(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[listen]\nirc = ["127.0.0.1:0", "[::1]:6668"]\n'))
    assert cfg.listen.irc_addrs == (("127.0.0.1", 0), ("::1", 6668))


def test_tls_listener_needs_cert(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[listen]\nirc_tls = ["127.0.0.1:6697"]\n')
    assert err.key == "tls.cert"
    assert "required" in err.reason


def test_tls_listener_needs_key(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    err = load_error(tmp_path, '[listen]\nirc_tls = ["127.0.0.1:6697"]\n[tls]\ncert = "cert.pem"\n')
    assert err.key == "tls.key"


def test_tls_cert_must_exist(tmp_path: Path) -> None:
    text = '[listen]\nirc_tls = ["127.0.0.1:6697"]\n[tls]\ncert = "nope.pem"\nkey = "nope.key"\n'
    err = load_error(tmp_path, text)
    assert err.key == "tls.cert"
    assert "no such file" in err.reason
    assert str(tmp_path / "nope.pem") in err.reason


def test_tls_garbage_pem(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    text = '[listen]\nirc_tls = ["127.0.0.1:6697"]\n[tls]\ncert = "cert.pem"\nkey = "key.pem"\n'
    err = load_error(tmp_path, text)
    assert err.key == "tls.cert"
    assert "cannot load" in err.reason


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_good_pair(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=irc.localhost", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    text = '[listen]\nirc_tls = ["127.0.0.1:0"]\n[tls]\ncert = "cert.pem"\nkey = "key.pem"\n'
    cfg = load(write(tmp_path, text))
    assert cfg.tls.cert == str(tmp_path / "cert.pem")
    assert cfg.listen.irc_tls_addrs == (("127.0.0.1", 0),)


def oper(name: str, pw_hash: str, extra: str = "") -> str:
    return f'[[opers]]\nname = "{name}"\npassword_hash = "{pw_hash}"\n{extra}'


def test_opers(tmp_path: Path, good_hash: str) -> None:
    text = oper("alice", good_hash) + oper("bob", good_hash, 'hostmask = "*@*.example.org"\n')
    cfg = load(write(tmp_path, text))
    assert [o.name for o in cfg.opers] == ["alice", "bob"]
    assert cfg.opers[0].hostmask == "*@*"
    assert cfg.opers[1].hostmask == "*@*.example.org"
    assert verify_password(cfg.opers[0].password_hash, "s3cret")


def test_duplicate_oper(tmp_path: Path, good_hash: str) -> None:
    err = load_error(tmp_path, oper("alice", good_hash) + oper("Alice", good_hash))
    assert err.key == "opers[1].name"
    assert "duplicate" in err.reason


def test_bad_password_hash(tmp_path: Path) -> None:
    err = load_error(tmp_path, oper("alice", "plaintext"))
    assert err.key == "opers[0].password_hash"
    assert "$argon2" in err.reason


def test_truncated_password_hash(tmp_path: Path, good_hash: str) -> None:
    err = load_error(tmp_path, oper("alice", good_hash[:20]))
    assert err.key == "opers[0].password_hash"


def test_oper_missing_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[[opers]]\nname = "alice"\n')
    assert err.key == "opers[0].password_hash"
    assert "missing required key" in err.reason


def test_oper_unknown_key(tmp_path: Path, good_hash: str) -> None:
    err = load_error(tmp_path, oper("a", good_hash) + oper("b", good_hash, "class = 1\n"))
    assert err.key == "opers[1].class"
    assert "unknown key" in err.reason


def test_oper_bad_hostmask(tmp_path: Path, good_hash: str) -> None:
    err = load_error(tmp_path, oper("a", good_hash, 'hostmask = "example.org"\n'))
    assert err.key == "opers[0].hostmask"


def test_opers_must_be_array(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[opers]\nname = "a"\n')
    assert err.key == "opers"
    assert "array of tables" in err.reason


def test_toml_syntax_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[server]\nname = \n")
    assert err.key == ""
    assert "line 2" in err.reason
    assert str(err) == f"{err.file}: {err.reason}"


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.toml")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.file == path
    assert "cannot read" in info.value.reason


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "ircpsyc.toml").write_bytes(b'[server]\nmotd = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "ircpsyc.toml"))
    assert info.value.key == ""
    assert "UTF-8" in info.value.reason


def test_config_error_pickles() -> None:
    err = ConfigError("a.toml", "limits.nicklen", "bad")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.file, copy.key, copy.reason) == ("a.toml", "limits.nicklen", "bad")


def test_config_error_str() -> None:
    err = ConfigError("a.toml", "limits.nicklen", "must be at least 1, got 0")
    assert str(err) == "a.toml: limits.nicklen: must be at least 1, got 0"
    assert (err.file, err.key, err.reason) == (
        "a.toml",
        "limits.nicklen",
        "must be at least 1, got 0",
    )


# --- types -----------------------------------------------------------------------


def test_float_accepts_int(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "[limits]\nping_timeout = 5\nflood_rate = 0\n"))
    assert cfg.limits.ping_timeout == 5.0
    assert isinstance(cfg.limits.ping_timeout, float)
    assert cfg.limits.flood_rate == 0.0  # 0 is allowed: flood control off


def test_config_is_frozen() -> None:
    cfg = load(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.server = cfg.server  # type: ignore[misc]


def test_multiline_motd_and_empty_motd(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[server]\nmotd = """\nline one\nline two"""\n'))
    assert cfg.server.motd.splitlines() == ["line one", "line two"]
    cfg = load(write(tmp_path, '[server]\nmotd = ""\n'))
    assert cfg.server.motd == ""


# --- paths -----------------------------------------------------------------------


def test_relative_paths_resolve_against_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "motd.txt").write_text("Hello\nthere\n\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = '[server]\nmotd_file = "motd.txt"\n[storage]\npath = "data/db.sqlite3"\n'
    cfg = load(os.path.relpath(write(conf_dir, text), elsewhere))
    assert cfg.storage.path == str(conf_dir / "data" / "db.sqlite3")
    assert cfg.server.motd_file == str(conf_dir / "motd.txt")
    assert cfg.server.motd == "Hello\nthere"  # file replaces motd, trailing newlines dropped


def test_default_storage_path_resolves_against_config_folder(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""))
    assert cfg.storage.path == str(tmp_path / "ircpsyc-data" / "ircpsyc.sqlite3")


def test_absolute_paths_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "db.sqlite3"
    cfg = load(write(tmp_path, f'[storage]\npath = "{target}"\n'))
    assert cfg.storage.path == str(target)


def test_motd_file_must_be_readable(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[server]\nmotd_file = "missing.txt"\n')
    assert err.key == "server.motd_file"
    assert "missing.txt" in err.reason


# --- overrides ---------------------------------------------------------------------


def test_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = '[server]\nname = "irc.file.org"\n[listen]\nirc = ["127.0.0.1:7000"]\n'
    path = write(tmp_path, text)
    ov = Overrides(listen=("127.0.0.1:0", "[::1]:0"), data_dir="var", name="irc.cli.org")
    cfg = load(path, ov)
    assert cfg.listen.irc == ("127.0.0.1:0", "[::1]:0")
    assert cfg.storage.path == str(tmp_path / "var" / "ircpsyc.sqlite3")
    assert cfg.server.name == "irc.cli.org"
    # Without overrides the file wins over defaults.
    plain = load(path)
    assert plain.server.name == "irc.file.org"
    assert plain.listen.irc == ("127.0.0.1:7000",)


def test_overrides_without_file(tmp_path: Path) -> None:
    cfg = load(None, Overrides(data_dir=str(tmp_path)))
    assert cfg.storage.path == str(tmp_path / "ircpsyc.sqlite3")
    assert cfg.source == "<defaults>"


@pytest.mark.parametrize(
    ("ov", "key"),
    [
        (Overrides(listen=("127.0.0.1:0", "bad")), "listen.irc[1]"),
        (Overrides(name="nodot"), "server.name"),
    ],
)
def test_bad_overrides(ov: Overrides, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(None, ov)
    assert info.value.file == "<command line>"
    assert info.value.key == key


def test_empty_listen_override_keeps_defaults() -> None:
    cfg = load(None, Overrides(listen=()))
    assert cfg.listen.irc == ("127.0.0.1:6667",)


def test_config_type() -> None:
    assert isinstance(load(None), Config)


# --- passwords -----------------------------------------------------------------------


def test_passwords(good_hash: str) -> None:
    assert good_hash.startswith("$argon2id$")
    assert is_argon2_hash(good_hash)
    assert verify_password(good_hash, "s3cret")
    assert not verify_password(good_hash, "wrong")
    assert not verify_password("garbage", "s3cret")
    assert not verify_password("$argon2id$v=19$nonsense", "s3cret")
    assert not verify_password("", "")
    assert not is_argon2_hash("$argon2id$")
    assert not is_argon2_hash("$argon2id$v=19$m=65536,t=3,p=4$$")
    assert not is_argon2_hash("$argon2id$v=19$m=65536,t=3,p=4$...")
    assert not is_argon2_hash("$2b$12$abcdefghijklmnopqrstuv")


def test_readme_overview_names_every_key() -> None:
    """The README's configuration overview stays true to the schema."""
    readme = (MAN_PAGE.parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("The sections:\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    sections: dict[str, str] = {}
    current = ""
    for text in block.splitlines():
        header = re.match(r"\s+(\[\[?[a-z_.]+\]\]?)\s", text)
        if header:
            current = header.group(1)
            text = text[header.end() :]
        sections[current] = sections.get(current, "") + " " + text
    for key in config.schema_keys():
        header = f"[[{key.section}]]" if key.array_section else f"[{key.section}]"
        if key.section == "xmpp.bridge":
            header = "[xmpp]"
        assert header in sections, f"README overview lacks {header}"
        named = re.findall(r"[a-z_0-9]+\*?", sections[header])
        assert any(
            key.name == word or (word.endswith("*") and key.name.startswith(word[:-1]))
            for word in named
        ), f"README overview lacks {header} {key.name}"


def test_readme_link_examples_pass_check_config(tmp_path: Path) -> None:
    readme = (MAN_PAGE.parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("Three servers in a line", 1)[1].split("A link secret", 1)[0]
    configs = re.split(r"^    # (\S+).*$", block, flags=re.M)[1:]
    names = configs[0::2]
    assert names == ["a.example.org", "b.example.org", "c.example.org"]
    for name, text in zip(names, configs[1::2], strict=True):
        path = tmp_path / f"{name}.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        loaded = load(str(path))
        assert loaded.server.name == name
        assert loaded.links


def test_readme_several_cores_example_passes_check_config(tmp_path: Path) -> None:
    """The two processes of one machine in "Using several cores" are a valid pair:
    each names the other in its links and network, on other ports and databases."""
    readme = (MAN_PAGE.parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Using several cores", 1)[1].split("\n## ", 1)[0]
    configs = re.split(r"^    # (\S+).*$", block, flags=re.M)[1:]
    names = configs[0::2]
    assert names == ["irc1.example.org", "irc2.example.org"]
    loaded = []
    for name, text in zip(names, configs[1::2], strict=True):
        path = tmp_path / f"{name}.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        result = CliRunner().invoke(main, ["check-config", str(path)])
        assert result.exit_code == 0, result.output
        config = load(str(path))
        assert config.server.name == name
        assert list(config.network.servers) == names
        assert [link.name for link in config.links] == [n for n in names if n != name]
        loaded.append(config)
    first, second = loaded
    assert first.links[0].address == second.listen.psyc  # irc1 dials irc2
    assert not second.links[0].address
    assert first.links[0].secret == second.links[0].secret
    assert first.cloaks.secret == second.cloaks.secret
    assert first.storage.path != second.storage.path
    assert not set(first.listen.irc) & set(second.listen.irc)
