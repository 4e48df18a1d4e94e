"""Accounts: the store, SCRAM keys, rate limits, NickServ commands and nick protection."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import Deferred, ServicesWorld, fast_hash, fast_verify, notices
from helpers import World, cmds, only

from ircpsyc.config import load
from ircpsyc.services.accounts import (
    AccountError,
    Accounts,
    LoginLimiter,
    ScramError,
    ScramServer,
    normalize_fingerprint,
    saslprep,
    scram_client_proof,
    scram_credentials,
)
from ircpsyc.store import Store

FP = "ab" * 32
FP2 = "cd" * 32


@pytest.fixture
def world() -> Iterator[ServicesWorld]:
    w = ServicesWorld()
    yield w
    w.close()


def settings() -> object:
    return load(None).services


def accounts_on(path: str | Path) -> tuple[Store, Accounts]:
    store = Store(str(path))
    clock = [1000.0]
    config = load(None)
    return store, Accounts(store, lambda: config.services, lambda: clock[0], fast_hash, fast_verify)


# -- the account table


def test_create_get_and_casefolded_uniqueness(tmp_path: Path) -> None:
    store, accounts = accounts_on(tmp_path / "a.sqlite3")
    try:
        account = accounts.create("Alice", accounts.make_credentials("pw"))
        assert accounts.get("ALICE") is account and account.name == "Alice"
        assert accounts.check_password(account, "pw")
        assert not accounts.check_password(account, "wrong")
        assert not accounts.check_password(account, "")
        with pytest.raises(AccountError) as error:
            accounts.create("alice", accounts.make_credentials("pw2"))
        assert error.value.code == "ACCOUNT_EXISTS"
        with pytest.raises(AccountError):
            accounts.reserve("ALICE")
        # rfc1459 casemapping: [ and { are one letter
        accounts.create("a[b", accounts.make_credentials("pw"))
        with pytest.raises(AccountError):
            accounts.create("A{B", accounts.make_credentials("pw"))
    finally:
        store.close()


def test_the_unique_constraint_decides_between_two_writers(tmp_path: Path) -> None:
    """Two copies of the table that both think a name is free: exactly one insert wins."""
    path = tmp_path / "race.sqlite3"
    store1, first = accounts_on(path)
    store2, second = accounts_on(path)
    try:
        credentials = first.make_credentials("pw")
        first.reserve("bob")
        second.reserve("BOB")  # each copy only knows its own reservations
        first.create("bob", credentials)
        with pytest.raises(AccountError) as error:
            second.create("BOB", credentials)
        assert error.value.code == "ACCOUNT_EXISTS"
        assert second.get("bob") is None
        assert second.reserve("bob") is None  # the failed create released its claim
        count = store2.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]
        assert count == 1
    finally:
        store1.close()
        store2.close()


def test_changes_are_committed_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    store, accounts = accounts_on(path)
    accounts.create("carol", accounts.make_credentials("old"), "carol@example.org")
    accounts.add_cert("carol", FP.upper())
    accounts.set_enforce("carol", False)
    accounts.set_credentials("carol", accounts.make_credentials("new"))
    # A second connection sees every change at once: write_now committed it.
    other = sqlite3.connect(path)
    row = other.execute("SELECT name, email, enforce FROM accounts").fetchone()
    assert row == ("carol", "carol@example.org", 0)
    assert other.execute("SELECT fingerprint FROM account_certs").fetchall() == [(FP,)]
    other.close()
    store.close()
    store, again = accounts_on(path)
    try:
        carol = again.get("carol")
        assert carol is not None
        assert carol.certs == [FP] and not carol.enforce
        assert again.by_certfp(FP) is carol
        assert again.check_password(carol, "new") and not again.check_password(carol, "old")
        assert carol.scram == accounts.get("carol").scram  # type: ignore[union-attr]
        again.drop("carol")
        assert again.get("carol") is None and again.by_certfp(FP) is None
        assert store.db.execute("SELECT COUNT(*) FROM account_certs").fetchone()[0] == 0
    finally:
        store.close()


def test_the_password_itself_is_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    store, accounts = accounts_on(path)
    accounts.create("dave", accounts.make_credentials("hunter2-plaintext"))
    store.close()
    assert b"hunter2-plaintext" not in path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        assert b"hunter2-plaintext" not in wal.read_bytes()


def test_certificates(world: ServicesWorld) -> None:
    accounts = world.accounts
    accounts.create("erin", accounts.make_credentials("pw"))
    accounts.create("frank", accounts.make_credentials("pw"))
    accounts.add_cert("erin", ":".join(FP[i : i + 2] for i in range(0, 64, 2)))
    assert accounts.get("erin").certs == [FP]  # type: ignore[union-attr]
    for bad, code in (("nothex", "INVALID_FINGERPRINT"), (FP, "CERT_EXISTS")):
        with pytest.raises(AccountError) as error:
            accounts.add_cert("erin", bad)
        assert error.value.code == code
    with pytest.raises(AccountError) as error:
        accounts.add_cert("frank", FP)
    assert error.value.code == "CERT_IN_USE"
    assert accounts.del_cert("erin", FP.upper())
    assert not accounts.del_cert("erin", FP)
    assert normalize_fingerprint("AB:" * 31 + "AB") == FP
    assert normalize_fingerprint("ab" * 20) == ""


# -- SCRAM


def test_scram_rfc7677_test_vector(world: ServicesWorld) -> None:
    """RFC 7677 section 3: user "user", password "pencil"."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    accounts = world.accounts
    credentials = accounts.make_credentials("pencil")
    accounts.create(
        "user",
        type(credentials)(credentials.password_hash, scram_credentials("pencil", 4096, salt)),
    )
    server = ScramServer(accounts, nonce=lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    first = server.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert first == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = server.final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.account is accounts.get("user")


def _scram_round(accounts: Accounts, user: str, password: str) -> bytes:
    server = ScramServer(accounts)
    bare = f"n={user},r=clientnonce"
    first = server.first(f"n,,{bare}".encode()).decode()
    fields = dict(part.split("=", 1) for part in first.split(","))
    salt, iterations = base64.b64decode(fields["s"]), int(fields["i"])
    without_proof = f"c=biws,r={fields['r']}"
    proof, _ = scram_client_proof(
        password, salt, iterations, f"{bare},{first},{without_proof}".encode()
    )
    return server.final(f"{without_proof},p={base64.b64encode(proof).decode()}".encode())


def test_scram_failures(world: ServicesWorld) -> None:
    accounts = world.accounts
    accounts.create("gina", accounts.make_credentials("right"))
    assert _scram_round(accounts, "gina", "right").startswith(b"v=")
    with pytest.raises(ScramError):
        _scram_round(accounts, "gina", "wrong")
    with pytest.raises(ScramError):
        _scram_round(accounts, "nobody", "right")
    for bad in (
        b"p=tls-unique,,n=gina,r=x",  # channel binding was not offered
        b"n,,r=x,n=gina",
        b"n,,n=gina",
        b"n,,n=,r=x",
        b"n,,n=gina,r=x,m=ext",
        b"n,a=other,n=gina,r=x",
        b"n,,n=gi=ZZna,r=x",
        b"\xff\xfe",
        b"garbage",
    ):
        with pytest.raises(ScramError):
            ScramServer(accounts).first(bad)
    server = ScramServer(accounts)
    server.first(b"n,,n=gina,r=abc")
    for bad in (b"c=biws,r=abc,p=AAAA", b"c=eSws,r=abcXYZ,p=AAAA", b"no proof", b"c=biws"):
        with pytest.raises(ScramError):
            server.final(bad)
    with pytest.raises(ScramError):
        ScramServer(accounts).final(b"c=biws,r=x,p=AAAA")


def test_scram_unknown_user_looks_like_a_known_one(world: ServicesWorld) -> None:
    a = ScramServer(world.accounts).first(b"n,,n=ghost,r=1").decode()
    b = ScramServer(world.accounts).first(b"n,,n=GHOST,r=2").decode()
    assert a.split(",")[1:] == b.split(",")[1:]  # same salt and iterations each time
    assert a.endswith(",i=4096")


def test_saslprep_rfc4013_examples() -> None:
    assert saslprep("I\u00adX") == "IX"
    assert saslprep("user") == "user"
    assert saslprep("USER") == "USER"
    assert saslprep("\u00aa") == "a"
    assert saslprep("\u2168") == "IX"
    assert saslprep("a\u00a0b") == "a b"
    for bad in ("\u0007", "\u0627\u0031"):
        with pytest.raises(ValueError):
            saslprep(bad)


def test_scram_keys_are_what_rfc5802_says() -> None:
    creds = scram_credentials("pencil", 4096, b"salt")
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", b"salt", 4096)
    import hmac

    client_key = hmac.digest(salted, b"Client Key", "sha256")
    assert creds.stored_key == hashlib.sha256(client_key).digest()
    assert creds.server_key == hmac.digest(salted, b"Server Key", "sha256")


# -- rate limits


def test_login_limiter_per_account_and_per_ip() -> None:
    config = load(None)
    limiter = LoginLimiter(lambda: config.services)
    for i in range(5):
        assert not limiter.blocked("acct", "1.2.3.4", 100 + i)
        limiter.failed("acct", "1.2.3.4", 100 + i)
    assert limiter.blocked("ACCT", "9.9.9.9", 105)  # the account, from anywhere
    assert limiter.blocked("other", "1.2.3.4", 105)  # anything, from that address
    assert not limiter.blocked("other", "9.9.9.9", 105)
    assert not limiter.blocked("acct", "9.9.9.9", 161)  # the window slid past
    limiter.failed("x", "5.5.5.5", 0)
    limiter.succeeded("x")
    assert not limiter.blocked("x", "", 1)
    limiter.prune(1000)
    assert not limiter._accounts and not limiter._ips


# -- NickServ as a nick


def test_nickserv_is_a_nick_nobody_can_take(world: ServicesWorld) -> None:
    alice = world.client("alice")
    assert only(alice.send("NICK nickserv"), "433")
    assert only(alice.send("ISON NickServ bob"), "303").params[-1] == "NickServ"
    whois = alice.send("WHOIS NickServ")
    assert only(whois, "311").params[1:4] == ["NickServ", "NickServ", "services.int"]
    fresh = world.connect()
    fresh.send("NICK NICKSERV")
    assert "001" not in cmds(fresh.send("USER u 0 * :u"))
    assert world.core.find("nickserv") is not None and world.core.counts()["local"] == 1


def test_nickserv_answers_with_notices_from_its_own_prefix(world: ServicesWorld) -> None:
    alice = world.client("alice")
    out = alice.send("PRIVMSG NickServ :FROBNICATE")
    notice = only(out, "NOTICE")
    assert notice.source == "NickServ!NickServ@services.int"
    assert notice.params == [
        "alice",
        "Unknown command FROBNICATE. Type /msg NickServ HELP for help.",
    ]
    assert alice.send("NOTICE NickServ :HELP") == []  # notices are never answered
    assert alice.send("PRIVMSG NickServ :\x01VERSION\x01") == []
    assert notices(alice.send("NS HELP"))  # the alias
    assert notices(alice.send("NICKSERV HELP"))


def test_no_nickserv_without_the_service() -> None:
    world = World()
    alice = world.client("alice")
    assert only(alice.send("PRIVMSG NickServ :HELP"), "401")
    assert only(alice.send("NS HELP"), "401")
    assert "001" in cmds(world.client("NickServ", clear=False).lines)


def test_help_for_every_command(world: ServicesWorld) -> None:
    alice = world.client("alice")
    listing = notices(alice.send("NS HELP"))
    for name in ("REGISTER", "IDENTIFY", "LOGOUT", "GHOST", "RECOVER", "DROP", "SET", "INFO"):
        assert any(text.startswith(name) for text in listing), (name, listing)
        detail = notices(alice.send(f"NS HELP {name.lower()}"))
        assert detail[0].startswith(f"Syntax: {name}"), detail
        assert len(detail) >= 2
    assert notices(alice.send("NS HELP SET PASSWORD"))[0] == "Syntax: SET PASSWORD <new password>"
    assert notices(alice.send("NS HELP SET ENFORCE"))[0] == "Syntax: SET ENFORCE ON|OFF"
    assert notices(alice.send("NS HELP CERT"))[0].startswith("Syntax: CERT ADD")
    assert notices(alice.send("NS HELP NOPE")) == ["No help for NOPE."]
    assert notices(alice.send("NS REGISTER")) == [
        "Not enough parameters. Syntax: REGISTER <password> [email]"
    ]


# -- REGISTER, IDENTIFY, LOGOUT


def test_register_logs_in_and_is_durable(world: ServicesWorld) -> None:
    alice = world.client("alice", caps=("account-notify",))
    out = alice.send("PRIVMSG NickServ :REGISTER s3cret alice@example.org")
    assert notices(out)[0] == "Account created"
    logged = only(out, "900")
    assert logged.params == [
        "alice",
        "alice!~user@127.0.0.1",
        "alice",
        "You are now logged in as alice",
    ]
    assert only(out, "ACCOUNT").params == ["alice"]  # to itself, with account-notify
    assert alice.client.account == "alice"
    row = world.store.db.execute("SELECT name, email FROM accounts").fetchone()
    assert row == ("alice", "alice@example.org")
    assert "already logged in" in notices(alice.send("NS REGISTER again"))[0]


def test_register_refusals(world: ServicesWorld) -> None:
    world.registered("alice")
    bob = world.client("bob")
    assert notices(bob.send("NS REGISTER pw not-an-address")) == [
        "not-an-address is not a valid e-mail address."
    ]
    world.accounts.create("bob", world.accounts.make_credentials("x"))
    assert notices(bob.send("NS REGISTER pw")) == ["The account bob is already registered."]
    assert bob.client.account == ""


def test_register_can_require_an_email() -> None:
    world = ServicesWorld(registration_email_required=True)
    try:
        alice = world.client("alice")
        assert "e-mail address is required" in notices(alice.send("NS REGISTER pw"))[0]
        assert notices(alice.send("NS REGISTER pw a@b.example"))[0] == "Account created"
    finally:
        world.close()


def test_identify_forms_and_failures(world: ServicesWorld) -> None:
    alice = world.registered("alice", "pw-alice")
    alice.send("NS LOGOUT")
    bob = world.client("bob")
    assert notices(bob.send("NS IDENTIFY wrong")) == ["Invalid account credentials."]
    assert notices(bob.send("NS IDENTIFY alice wrong")) == ["Invalid account credentials."]
    out = bob.send("NS IDENTIFY alice pw-alice")
    assert only(out, "900").params[2] == "alice"
    assert notices(out) == ["You are now logged in as alice."]
    assert notices(bob.send("NS IDENTIFY Alice pw-alice")) == [
        "You are already logged in as alice."
    ]
    out = alice.send("NS IDENTIFY pw-alice")  # one account, two persons
    assert alice.client.account == bob.client.account == "alice"
    assert notices(world.client("carol").send("NS IDENTIFY whatever")) == [
        "Invalid account credentials."
    ]


def test_logout(world: ServicesWorld) -> None:
    alice = world.registered("alice")
    out = alice.send("NS LOGOUT")
    assert only(out, "901").params == ["alice", "alice!~user@127.0.0.1", "You are now logged out"]
    assert alice.client.account == ""
    assert notices(alice.send("NS LOGOUT")) == ["You are not logged in."]


def test_identify_is_rate_limited_per_account_and_address(world: ServicesWorld) -> None:
    world.registered("alice", "right").send("QUIT")
    bob = world.client("bob", ip="10.0.0.1")
    for _ in range(5):
        assert notices(bob.send("NS IDENTIFY alice wrong")) == ["Invalid account credentials."]
    refused = ["Too many failed login attempts; try again later."]
    assert notices(bob.send("NS IDENTIFY alice right")) == refused
    carol = world.client("carol", ip="10.0.0.2")
    assert notices(carol.send("NS IDENTIFY alice right")) == refused  # the account
    assert notices(bob.send("NS IDENTIFY carol whatever")) == refused  # the address
    world.advance(61)
    assert notices(carol.send("NS IDENTIFY alice right")) == ["You are now logged in as alice."]


# -- GHOST and RECOVER


def test_ghost_when_logged_in(world: ServicesWorld) -> None:
    alice = world.registered("alice")
    alice.send("NICK alice_")
    ghost = world.client("alice2")
    ghost.send("NICK alice")
    out = alice.send("NS GHOST alice")
    assert notices(out) == ["alice has been ghosted."]
    assert ghost.closed
    assert "GHOST command used by alice_" in ghost.raw.decode()
    assert world.core.find("alice") is None
    alice.send("NICK alice")
    assert alice.nick == "alice"
    world.check_consistency()


def test_ghost_and_recover_refusals(world: ServicesWorld) -> None:
    world.registered("alice", "pw").send("NICK other")
    bob = world.client("bob")
    assert notices(bob.send("NS GHOST bob")) == ["You cannot GHOST yourself."]
    assert notices(bob.send("NS GHOST nobody")) == ["nobody is not online."]
    assert notices(bob.send("NS GHOST other")) == ["other is not a registered nick."]
    squatter = world.client("squatter")
    squatter.send("NICK alice")
    assert "Access denied" in notices(bob.send("NS GHOST alice"))[0]
    assert notices(bob.send("NS RECOVER alice wrong")) == ["Invalid account credentials."]
    assert not squatter.closed and squatter.nick == "alice"


def test_recover_with_password_takes_the_nick_and_logs_in(world: ServicesWorld) -> None:
    world.registered("alice", "pw").send("QUIT")
    squatter = world.client("alice")
    owner = world.client("owner")
    out = owner.send("NS RECOVER alice pw")
    assert "alice has been recovered." in notices(out)
    assert owner.nick == "alice" and owner.client.account == "alice"
    assert squatter.nick.startswith("Guest") and len(squatter.nick) == 10
    assert only(squatter.take(), "NICK").params == [squatter.nick]
    world.check_consistency()


def test_ghost_with_password(world: ServicesWorld) -> None:
    world.registered("alice", "pw").send("QUIT")
    squatter = world.client("alice")
    owner = world.client("owner")
    out = owner.send("NS GHOST alice pw")
    assert "alice has been ghosted." in notices(out)
    assert squatter.closed and owner.client.account == "alice"


# -- DROP, SET, INFO, CERT


def test_drop_needs_the_password_and_logs_everybody_out(world: ServicesWorld) -> None:
    alice = world.registered("alice", "pw")
    other = world.client("other")
    other.send("NS IDENTIFY alice pw")
    assert notices(world.client("x").send("NS DROP pw")) == ["You are not logged in."]
    assert notices(alice.send("NS DROP wrong")) == [
        "Wrong password; the account alice was not dropped."
    ]
    assert world.accounts.get("alice") is not None
    out = alice.send("NS DROP pw")
    assert "The account alice has been dropped." in notices(out)
    assert only(out, "901")
    assert alice.client.account == "" and other.client.account == ""
    assert world.store.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 0


def test_set_password(world: ServicesWorld) -> None:
    alice = world.registered("alice", "old")
    assert notices(alice.send("NS SET PASSWORD new")) == ["Your password has been changed."]
    alice.send("NS LOGOUT")
    assert notices(alice.send("NS IDENTIFY old")) == ["Invalid account credentials."]
    assert notices(alice.send("NS IDENTIFY new")) == ["You are now logged in as alice."]
    assert notices(alice.send("NS SET")) == [
        "Not enough parameters. Syntax: SET PASSWORD <new password> | SET ENFORCE ON|OFF"
    ]
    assert notices(alice.send("NS SET COLOUR blue")) == ["Unknown setting COLOUR. Try HELP SET."]
    assert "Syntax" in notices(alice.send("NS SET PASSWORD"))[0]
    assert notices(world.client("bob").send("NS SET PASSWORD x")) == ["You are not logged in."]


def test_info(world: ServicesWorld) -> None:
    alice = world.registered("alice")
    own = notices(alice.send("NS INFO"))
    assert own[0] == "Information on alice:"
    assert own[1] == "Registered: 2023-11-14 22:13:20 UTC"
    assert "E-mail: none" in own and "Logged in now as: alice" in own
    other = notices(world.client("bob").send("NS INFO ALICE"))
    assert other[0] == "Information on alice:"
    assert not any(line.startswith("E-mail") for line in other)
    assert notices(alice.send("NS INFO nobody")) == ["nobody is not registered."]


def test_cert_add_list_del(world: ServicesWorld) -> None:
    alice = world.registered("alice")
    alice.session.certfp = FP
    assert notices(alice.send("NS CERT LIST")) == ["No certificate fingerprints for alice."]
    assert notices(alice.send("NS CERT ADD")) == [f"Added {FP} to the certificates of alice."]
    assert notices(alice.send(f"NS CERT ADD {FP2.upper()}")) == [
        f"Added {FP2} to the certificates of alice."
    ]
    assert notices(alice.send("NS CERT ADD 1234")) == ["That is not a SHA-256 fingerprint."]
    assert notices(alice.send("NS CERT LIST")) == [
        "Certificate fingerprints for alice:",
        FP,
        FP2,
        "End of list.",
    ]
    bob = world.registered("bob")
    assert notices(bob.send(f"NS CERT ADD {FP}")) == [f"{FP} belongs to another account."]
    assert "not using a TLS client certificate" in notices(bob.send("NS CERT ADD"))[0]
    assert notices(alice.send(f"NS CERT DEL {FP}")) == [
        f"Removed {FP} from the certificates of alice."
    ]
    assert notices(alice.send(f"NS CERT DEL {FP}")) == [f"{FP} is not on your certificate list."]
    assert "Syntax" in notices(alice.send("NS CERT DEL"))[0]
    assert "Syntax" in notices(alice.send("NS CERT FROB"))[0]
    count = world.store.db.execute("SELECT COUNT(*) FROM account_certs").fetchone()[0]
    assert count == 1


# -- the account as others see it


def test_account_notify_tag_extended_join_and_whois(world: ServicesWorld) -> None:
    world.registered("alice", "pw").send("NS LOGOUT")
    alice = world.client("alice2")
    watcher = world.client("watcher", caps=("account-notify", "account-tag", "extended-join"))
    plain = world.client("plain")
    world.channel("#room", watcher, alice, plain)
    alice.send("NS IDENTIFY alice pw")
    assert only(watcher.take(), "ACCOUNT").params == ["alice"]
    assert "ACCOUNT" not in cmds(plain.take())
    alice.send("PRIVMSG #room :hello")
    message = only(watcher.take(), "PRIVMSG")
    assert message.tags is not None and message.tags.get("account") == "alice"
    assert only(watcher.send("WHOIS alice2"), "330").params[1:3] == ["alice2", "alice"]
    assert only(watcher.send("WHO alice2 %na"), "354").params[1:] == ["alice2", "alice"]
    world.channel("#other", alice)
    joined = only(watcher.send("JOIN #other"), "JOIN")
    del joined
    alice.send("PART #room")
    watcher.take()
    alice.send("JOIN #room")
    join = only(watcher.take(), "JOIN")
    assert join.params[:2] == ["#room", "alice"]
    alice.send("NS LOGOUT")
    assert only(watcher.take(), "ACCOUNT").params == ["*"]
    alice.send("PRIVMSG #room :bye")
    message = only(watcher.take(), "PRIVMSG")
    assert "account" not in (message.tags or {})
    assert not [m for m in watcher.send("WHOIS alice2") if m.command == "330"]


# -- nick protection


def test_unidentified_user_of_a_registered_nick_is_renamed_after_the_grace(
    world: ServicesWorld,
) -> None:
    world.registered("alice").send("QUIT")
    squatter = world.client("alice", clear=False)
    warning = notices(squatter.lines)
    assert len(warning) == 1 and "registered" in warning[0] and "30 seconds" in warning[0]
    world.tick(29)
    assert squatter.nick == "alice" and squatter.take() == []
    world.tick(2)
    out = squatter.take()
    assert "you are being renamed" in notices(out)[0]
    assert squatter.nick.startswith("Guest") and only(out, "NICK").params == [squatter.nick]
    world.tick(60)
    assert squatter.take() == []
    world.check_consistency()


def test_identifying_in_time_keeps_the_nick(world: ServicesWorld) -> None:
    world.registered("alice", "pw").send("QUIT")
    owner = world.client("alice")
    world.tick(10)
    owner.send("NS IDENTIFY pw")
    world.tick(60)
    assert owner.nick == "alice" and owner.client.account == "alice"


def test_sasl_login_before_registration_is_never_warned(world: ServicesWorld) -> None:
    from account_helpers import plain

    world.registered("alice", "pw").send("QUIT")
    fake = world.connect()
    fake.send("CAP LS 302")
    fake.send("CAP REQ sasl")
    fake.send("AUTHENTICATE PLAIN")
    fake.send("AUTHENTICATE " + plain("alice", "pw"))
    fake.register("alice")
    fake.send("CAP END")
    assert notices(fake.lines) == []
    world.tick(60)
    assert fake.nick == "alice"


def test_changing_nick_away_in_time_or_enforce_off(world: ServicesWorld) -> None:
    world.registered("alice", "pw").send("QUIT")
    squatter = world.client("alice")
    squatter.send("NICK bob")
    world.tick(60)
    assert squatter.nick == "bob"
    owner = world.client("owner")
    owner.send("NS IDENTIFY alice pw")
    assert notices(owner.send("NS SET ENFORCE OFF")) == ["Nick protection for alice is now OFF."]
    squatter.send("NICK alice")
    assert notices(squatter.take()) == []
    world.tick(60)
    assert squatter.nick == "alice"
    assert notices(owner.send("NS SET ENFORCE maybe")) == ["Syntax: SET ENFORCE ON|OFF"]
    owner.send("NS SET ENFORCE ON")
    squatter.send("NICK alice_")
    assert notices(squatter.send("NICK alice"))
    world.tick(31)
    assert squatter.nick.startswith("Guest")


def test_logging_out_on_ones_own_nick_starts_the_clock(world: ServicesWorld) -> None:
    alice = world.registered("alice")
    out = alice.send("NS LOGOUT")
    assert any("is registered" in text for text in notices(out))
    world.tick(31)
    assert alice.nick.startswith("Guest")


def test_grace_time_comes_from_the_config() -> None:
    world = ServicesWorld(nick_grace=5.0, guest_prefix="Anon")
    try:
        world.registered("alice").send("QUIT")
        squatter = world.client("alice", clear=False)
        assert "5 seconds" in notices(squatter.lines)[0]
        world.tick(6)
        assert squatter.nick.startswith("Anon")
    finally:
        world.close()


def test_only_nickserv_may_rename_or_disconnect(world: ServicesWorld) -> None:
    from ircpsyc.psyc_backend.packet import Packet

    alice = world.client("alice")
    for method in ("_request_person_disconnect", "_request_person_rename", "_notice_account_login"):
        world.router.send(
            Packet(
                method,
                {"_source": "psyc://evil.example/~mallory", "_target": alice.client.uniform},
                {"_nick": "alice", "_nick_new": "x", "_account": "root"},
            )
        )
    assert not alice.closed and alice.nick == "alice" and alice.client.account == ""


# -- slow work that finishes later


def test_identify_result_for_someone_who_left_is_dropped(world: ServicesWorld) -> None:
    deferred = Deferred()
    world.registered("alice", "pw").send("QUIT")
    world.nickserv.offload = deferred
    bob = world.client("bob")
    bob.send("NS IDENTIFY alice pw")
    bob.send("QUIT")
    impostor = world.client("bob")  # same nick, same uniform, another person
    assert deferred.run() == 1
    assert impostor.client.account == ""
    assert "logged in" not in " ".join(notices(impostor.take()))


def test_concurrent_nickserv_registrations_of_one_name_have_one_winner(
    world: ServicesWorld,
) -> None:
    deferred = Deferred()
    world.nickserv.offload = deferred
    alice = world.client("alice")
    alice.send("NS REGISTER first")
    alice.send("NICK other")
    alice.send("NICK alice")
    second = notices(alice.send("NS REGISTER second"))
    assert second == ["The account alice is already registered."]
    deferred.run()
    assert world.accounts.check_password(world.accounts.get("alice"), "first")  # type: ignore[arg-type]
