"""Accounts: the store, SCRAM keys, rate limits, NickServ commands and nick protection."""

from __future__ import annotations

import base64
import dataclasses
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
from ircpsyc.services.nickserv import BUSY as NS_BUSY
from ircpsyc.services.nickserv import TOO_MANY as NS_TOO_MANY
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
        account = accounts.create("Alice", accounts.make_credentials("pass-word"))
        assert accounts.get("ALICE") is account and account.name == "Alice"
        assert accounts.check_password(account, "pass-word")
        assert not accounts.check_password(account, "wrong")
        assert not accounts.check_password(account, "")
        with pytest.raises(AccountError) as error:
            accounts.create("alice", accounts.make_credentials("pw2"))
        assert error.value.code == "ACCOUNT_EXISTS"
        with pytest.raises(AccountError):
            accounts.reserve("ALICE")
        # rfc1459 casemapping: [ and { are one letter
        accounts.create("a[b", accounts.make_credentials("pass-word"))
        with pytest.raises(AccountError):
            accounts.create("A{B", accounts.make_credentials("pass-word"))
    finally:
        store.close()


def test_the_unique_constraint_decides_between_two_writers(tmp_path: Path) -> None:
    """Two copies of the table that both think a name is free: exactly one insert wins."""
    path = tmp_path / "race.sqlite3"
    store1, first = accounts_on(path)
    store2, second = accounts_on(path)
    try:
        credentials = first.make_credentials("pass-word")
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
    accounts.create("erin", accounts.make_credentials("pass-word"))
    accounts.create("frank", accounts.make_credentials("pass-word"))
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


def limiter_with(**services: object) -> LoginLimiter:
    settings = dataclasses.replace(load(None).services, **services)  # type: ignore[arg-type]
    return LoginLimiter(lambda: settings)


def test_login_limiter_counts_attempts_when_they_start() -> None:
    limiter = limiter_with()
    started = [limiter.begin("acct", "1.2.3.4", 100) for _ in range(5)]
    assert all(started)  # five checks under way, none finished
    assert limiter.begin("acct", "1.2.3.4", 100) is None  # the sixth waits for nothing
    assert limiter.begin("other", "1.2.3.4", 100) is None  # the address is used up
    assert limiter.begin("ACCT", "9.9.9.9", 100) is not None  # the owner elsewhere is not
    assert limiter.begin("acct", "1.2.3.4", 161) is not None  # the window slid past
    limiter.prune(1000)
    assert not limiter._accounts and not limiter._ips


def test_login_limiter_success_takes_its_attempt_back() -> None:
    limiter = limiter_with()
    failed = [limiter.begin("acct", "1.2.3.4", 100) for _ in range(4)]
    for attempt in failed:
        assert attempt is not None
        limiter.finish(attempt, False, 100)
    good = limiter.begin("acct", "1.2.3.4", 100)
    assert good is not None
    limiter.finish(good, True, 100)  # a success does not count
    assert limiter.begin("acct", "1.2.3.4", 100) is not None
    cancelled = limiter.begin("x", "5.5.5.5", 100)
    assert cancelled is not None
    limiter.cancel(cancelled)
    assert not limiter._ips.get("5.5.5.5")


def test_login_limiter_per_account_cap_spares_known_addresses_and_certificates() -> None:
    limiter = limiter_with(login_account_attempts=10)
    limiter.remember("acct", "192.0.2.1", 0)  # the owner logged in from there
    for n in range(10):
        assert limiter.begin("acct", f"10.0.0.{n}", 100) is not None
    assert limiter.begin("acct", "10.0.1.1", 100) is None  # the account's cap
    assert limiter.begin("ACCT", "192.0.2.1", 100) is not None  # a known address
    assert limiter.begin("acct", "10.0.2.2", 100, certified=True) is not None
    assert limiter.begin("other", "10.0.1.1", 100) is not None  # other accounts are not
    # Known addresses are forgotten after a while.
    later = 2 * LoginLimiter.KNOWN_FOR
    limiter.prune(later)
    assert not limiter.known("acct", "192.0.2.1", later)


def test_login_limiter_groups_ipv6_by_64() -> None:
    limiter = limiter_with()
    for n in range(5):
        assert limiter.begin(f"a{n}", f"2001:db8::{n + 1}", 100) is not None
    assert limiter.begin("b", "2001:db8::ffff", 100) is None  # the same /64
    assert limiter.begin("b", "2001:db8:0:1::1", 100) is not None  # another /64


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
    out = alice.send("PRIVMSG NickServ :REGISTER s3cret-pw alice@example.org")
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
    assert notices(bob.send("NS REGISTER pass-word not-an-address")) == [
        "not-an-address is not a valid e-mail address."
    ]
    world.accounts.create("bob", world.accounts.make_credentials("x"))
    assert notices(bob.send("NS REGISTER pass-word")) == ["The account bob is already registered."]
    assert bob.client.account == ""


def test_register_can_require_an_email() -> None:
    world = ServicesWorld(registration_email_required=True)
    try:
        alice = world.client("alice")
        assert "e-mail address is required" in notices(alice.send("NS REGISTER pass-word"))[0]
        assert notices(alice.send("NS REGISTER pass-word a@b.example"))[0] == "Account created"
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


def test_identify_of_an_unknown_name_costs_what_a_wrong_password_costs(
    world: ServicesWorld,
) -> None:
    """An account that does not exist is answered like a wrong password, and no sooner:
    its check goes through the same hashing queue (held until the queue runs, refused
    as BUSY when the address has its share queued, counted by the limits) and verifies
    against a dummy argon2 hash made once."""
    world.registered("alice", "pw-alice").send("QUIT")
    verified: list[str] = []
    hashed: list[str] = []

    def verify(hash: str, password: str) -> bool:
        verified.append(hash)
        return fast_verify(hash, password)

    def make_hash(password: str) -> str:
        hashed.append(password)
        return fast_hash(password)

    world.accounts._verify, world.accounts._hash = verify, make_hash
    deferred = Deferred()
    world.nickserv.offload = deferred
    bob = world.client("bob", ip="10.0.0.1")
    assert bob.send("NS IDENTIFY alice wrong") == []  # waits for its check
    assert bob.send("NS IDENTIFY nosuch wrong") == []  # waits the same
    assert deferred.run() == 2
    wrong, unknown = [m.format() for m in bob.take()]
    assert wrong == ":NickServ!NickServ@services.int NOTICE bob :Invalid account credentials."
    assert unknown == wrong
    assert len(verified) == 2 and len(hashed) == 1  # the dummy hash, made on first use
    bob.send("NS IDENTIFY other wrong-again")
    assert deferred.run() == 1
    assert len(verified) == 3 and len(hashed) == 1 and verified[2] == verified[1]
    # The address's share of the queue is used up: the same refusal for both.
    world.nickserv.offload = lambda *args: False
    busy = [":NickServ!NickServ@services.int NOTICE bob :" + NS_BUSY]
    assert [m.format() for m in bob.send("NS IDENTIFY alice wrong")] == busy
    assert [m.format() for m in bob.send("NS IDENTIFY nosuch wrong")] == busy
    # Counted by the limits alike: two more make five failures from the address.
    world.nickserv.offload = deferred
    bob.send("NS IDENTIFY nosuch wrong")
    bob.send("NS IDENTIFY alice wrong")
    assert deferred.run() == 2
    bob.take()
    assert notices(bob.send("NS IDENTIFY nosuch wrong")) == [NS_TOO_MANY]
    assert deferred.jobs == []


def test_logout(world: ServicesWorld) -> None:
    alice = world.registered("alice")
    out = alice.send("NS LOGOUT")
    assert only(out, "901").params == ["alice", "alice!~user@127.0.0.1", "You are now logged out"]
    assert alice.client.account == ""
    assert notices(alice.send("NS LOGOUT")) == ["You are not logged in."]


def test_identify_is_rate_limited_per_account_and_address(world: ServicesWorld) -> None:
    world.registered("alice", "right-password").send("QUIT")
    bob = world.client("bob", ip="10.0.0.1")
    for _ in range(5):
        assert notices(bob.send("NS IDENTIFY alice wrong")) == ["Invalid account credentials."]
    refused = ["Too many failed login attempts; try again later."]
    assert notices(bob.send("NS IDENTIFY alice right-password")) == refused
    assert notices(bob.send("NS IDENTIFY carol whatever")) == refused  # the address
    # Failures from one address do not lock the account's owner out elsewhere.
    carol = world.client("carol", ip="10.0.0.2")
    assert notices(carol.send("NS IDENTIFY alice right-password")) == [
        "You are now logged in as alice."
    ]
    world.advance(61)
    assert notices(bob.send("NS IDENTIFY alice right-password")) == [
        "You are now logged in as alice."
    ]


def test_identify_from_many_addresses_hits_the_account_cap(world: ServicesWorld) -> None:
    world.core.config = dataclasses.replace(
        world.core.config,
        services=dataclasses.replace(world.core.config.services, login_account_attempts=10),
    )
    world.registered("alice", "right-password").send("QUIT")  # from 127.0.0.1
    guessers = [world.client(f"g{n}", ip=f"10.0.0.{n}") for n in range(5)]
    for guesser in guessers:
        for _ in range(2):
            assert notices(guesser.send("NS IDENTIFY alice wrong")) == [
                "Invalid account credentials."
            ]
    refused = ["Too many failed login attempts; try again later."]
    stranger = world.client("stranger", ip="10.9.9.9")
    assert notices(stranger.send("NS IDENTIFY alice right-password")) == refused
    owner = world.client("owner")  # 127.0.0.1, where alice registered
    assert notices(owner.send("NS IDENTIFY alice right-password")) == [
        "You are now logged in as alice."
    ]


def test_weak_passwords_are_refused(world: ServicesWorld) -> None:
    alice = world.client("alice")
    assert notices(alice.send("NS REGISTER x")) == [
        "The password must be at least 8 characters long."
    ]
    assert notices(alice.send("NS REGISTER ALICE123")) != []  # 8 characters: long enough
    bob = world.client("bobbybobby")
    assert notices(bob.send("NS REGISTER BobbyBobby")) == [
        "The password must not be the account name."
    ]
    assert world.accounts.get("bobbybobby") is None
    alice.send("NS LOGOUT")
    carol = world.registered("carolyn1", "carol-password")
    assert notices(carol.send("NS SET PASSWORD short")) == [
        "The password must be at least 8 characters long."
    ]
    assert notices(carol.send("NS SET PASSWORD CAROLYN1")) == [
        "The password must not be the account name."
    ]
    assert notices(carol.send("NS SET PASSWORD another-password")) == [
        "Your password has been changed."
    ]


def test_password_min_length_is_configurable() -> None:
    world = ServicesWorld(password_min_length=3)
    try:
        assert notices(world.client("alice").send("NS REGISTER abc"))[0] == "Account created"
    finally:
        world.close()


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
    world.registered("alice", "pass-word").send("NICK other")
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
    world.registered("alice", "pass-word").send("QUIT")
    squatter = world.client("alice")
    owner = world.client("owner")
    out = owner.send("NS RECOVER alice pass-word")
    assert "alice has been recovered." in notices(out)
    assert owner.nick == "alice" and owner.client.account == "alice"
    assert squatter.nick.startswith("Guest") and len(squatter.nick) == 10
    assert only(squatter.take(), "NICK").params == [squatter.nick]
    world.check_consistency()


def test_ghost_with_password(world: ServicesWorld) -> None:
    world.registered("alice", "pass-word").send("QUIT")
    squatter = world.client("alice")
    owner = world.client("owner")
    out = owner.send("NS GHOST alice pass-word")
    assert "alice has been ghosted." in notices(out)
    assert squatter.closed and owner.client.account == "alice"


# -- DROP, SET, INFO, CERT


def test_drop_needs_the_password_and_logs_everybody_out(world: ServicesWorld) -> None:
    alice = world.registered("alice", "pass-word")
    other = world.client("other")
    other.send("NS IDENTIFY alice pass-word")
    assert notices(world.client("x").send("NS DROP pass-word")) == ["You are not logged in."]
    assert notices(alice.send("NS DROP wrong")) == [
        "Wrong password; the account alice was not dropped."
    ]
    assert world.accounts.get("alice") is not None
    out = alice.send("NS DROP pass-word")
    assert "The account alice has been dropped." in notices(out)
    assert only(out, "901")
    assert alice.client.account == "" and other.client.account == ""
    assert world.store.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 0


def test_set_password(world: ServicesWorld) -> None:
    alice = world.registered("alice", "old-password")
    assert notices(alice.send("NS SET PASSWORD new-password")) == [
        "Your password has been changed."
    ]
    alice.send("NS LOGOUT")
    assert notices(alice.send("NS IDENTIFY old-password")) == ["Invalid account credentials."]
    assert notices(alice.send("NS IDENTIFY new-password")) == ["You are now logged in as alice."]
    assert notices(alice.send("NS SET")) == [
        "Not enough parameters. Syntax: SET PASSWORD <new password> | SET ENFORCE ON|OFF"
        " | SET MULTICLIENT ON|OFF | SET ALWAYS-ON ON|OFF"
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
    world.registered("alice", "pass-word").send("NS LOGOUT")
    alice = world.client("alice2")
    watcher = world.client("watcher", caps=("account-notify", "account-tag", "extended-join"))
    plain = world.client("plain")
    world.channel("#room", watcher, alice, plain)
    alice.send("NS IDENTIFY alice pass-word")
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
    world.registered("alice", "pass-word").send("QUIT")
    owner = world.client("alice")
    world.tick(10)
    owner.send("NS IDENTIFY pass-word")
    world.tick(60)
    assert owner.nick == "alice" and owner.client.account == "alice"


def test_sasl_login_before_registration_is_never_warned(world: ServicesWorld) -> None:
    from account_helpers import plain

    world.registered("alice", "pass-word").send("QUIT")
    fake = world.connect()
    fake.send("CAP LS 302")
    fake.send("CAP REQ sasl")
    fake.send("AUTHENTICATE PLAIN")
    fake.send("AUTHENTICATE " + plain("alice", "pass-word"))
    fake.register("alice")
    fake.send("CAP END")
    assert notices(fake.lines) == []
    world.tick(60)
    assert fake.nick == "alice"


def test_changing_nick_away_in_time_or_enforce_off(world: ServicesWorld) -> None:
    world.registered("alice", "pass-word").send("QUIT")
    squatter = world.client("alice")
    squatter.send("NICK bob")
    world.tick(60)
    assert squatter.nick == "bob"
    owner = world.client("owner")
    owner.send("NS IDENTIFY alice pass-word")
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
    world.registered("alice", "pass-word").send("QUIT")
    world.nickserv.offload = deferred
    bob = world.client("bob")
    bob.send("NS IDENTIFY alice pass-word")
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
    alice.send("NS REGISTER first-password")
    alice.send("NICK other")
    alice.send("NICK alice")
    second = notices(alice.send("NS REGISTER second-password"))
    assert second == ["The account alice is already registered."]
    deferred.run()
    assert world.accounts.check_password(world.accounts.get("alice"), "first-password")  # type: ignore[arg-type]
