"""SASL (sasl-3.1/3.2: PLAIN, EXTERNAL, SCRAM-SHA-256) and IRCv3 account-registration."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator

import pytest
from account_helpers import Deferred, ServicesWorld, fast_verify, plain
from helpers import FakeClient, World, cmds, only
from irctokens.line import Line

from ircpsyc.ircd.sasl_state import BUSY
from ircpsyc.services.accounts import scram_client_proof

FP = "0f" * 32


@pytest.fixture
def world() -> Iterator[ServicesWorld]:
    w = ServicesWorld()
    w.accounts.create("jilles", w.accounts.make_credentials("sesame"))
    yield w
    w.close()


def sasl_client(world: World, ip: str = "127.0.0.1", certfp: str = "") -> FakeClient:
    """A connection that negotiated `sasl` and has not registered yet."""
    fake = world.connect(ip)
    fake.session.certfp = certfp
    fake.send("CAP LS 302")
    assert only(fake.send("CAP REQ :sasl"), "CAP").params[1] == "ACK"
    return fake


def start(fake: FakeClient, mechanism: str = "PLAIN") -> None:
    out = fake.send(f"AUTHENTICATE {mechanism}")
    assert [m.format() for m in out] == [":irc.localhost AUTHENTICATE +"]


def finish_registration(fake: FakeClient, nick: str = "foo") -> list[Line]:
    out = fake.register(nick)
    out += fake.send("CAP END")
    assert "001" in cmds(out)
    return out


def codes(lines: list[Line]) -> list[str]:
    return [m.command for m in lines]


# -- the capability


def test_cap_ls_offers_sasl_with_mechanisms_to_302_clients(world: ServicesWorld) -> None:
    fake = world.connect()
    ls = " ".join(m.params[-1] for m in fake.send("CAP LS 302"))
    assert "sasl=PLAIN,EXTERNAL,SCRAM-SHA-256" in ls.split()
    assert "draft/account-registration=before-connect,custom-account-name" in ls.split()
    old = " ".join(m.params[-1] for m in world.connect().send("CAP LS"))
    assert "sasl" in old.split()


def test_no_sasl_without_the_account_service() -> None:
    world = World()
    fake = world.connect()
    assert "sasl" not in " ".join(m.params[-1] for m in fake.send("CAP LS 302"))
    assert only(fake.send("CAP REQ :sasl"), "CAP").params[1] == "NAK"
    assert only(fake.send("AUTHENTICATE PLAIN"), "904")
    out = fake.send("REGISTER foo * pass-word")
    assert only(out, "FAIL").params[:2] == ["REGISTER", "TEMPORARILY_UNAVAILABLE"]


def test_authenticate_without_the_cap_fails(world: ServicesWorld) -> None:
    fake = world.connect()
    assert [m.format() for m in fake.send("AUTHENTICATE PLAIN")] == [
        ":irc.localhost 904 * :SASL authentication failed: request the sasl capability first"
        " (CAP REQ :sasl)"
    ]
    finish_registration(fake)


def test_authenticate_after_registration_without_the_cap(world: ServicesWorld) -> None:
    """After registration, without the sasl capability (sasl-3.1 needs it; sasl-3.2's
    reauthentication is for those who have it): logged in already is 907, as Ergo
    answers; not logged in, a 904 that says what is missing."""
    fake = world.client("foo")
    assert [m.format() for m in fake.send("AUTHENTICATE PLAIN")] == [
        ":irc.localhost 904 foo :SASL authentication failed: request the sasl capability"
        " first (CAP REQ :sasl)"
    ]
    fake.send("PRIVMSG NickServ :IDENTIFY jilles sesame")
    assert fake.client is not None and fake.client.account == "jilles"
    for text in ("PLAIN", "*", plain("jilles", "sesame")):
        assert [m.format() for m in fake.send(f"AUTHENTICATE {text}")] == [
            ":irc.localhost 907 foo :You are already logged in as jilles"
        ]
    assert fake.client.account == "jilles"


# -- PLAIN


def test_plain_before_registration(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    start(fake)
    out = fake.send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert codes(out) == ["900", "903"]
    assert out[0].params == ["*", "*!*@127.0.0.1", "jilles", "You are now logged in as jilles"]
    assert out[1].params == ["*", "SASL authentication successful"]
    finish_registration(fake, "bar")
    assert fake.client.account == "jilles"
    watcher = world.client("watcher")
    assert only(watcher.send("WHOIS bar"), "330").params[1:3] == ["bar", "jilles"]


@pytest.mark.parametrize(
    "payload",
    [
        plain("jilles", "sesame", authzid="jilles"),
        plain("JILLES", "sesame"),
        base64.b64encode(b"\0jilles\0sesame").decode(),
    ],
)
def test_plain_accepted_forms(world: ServicesWorld, payload: str) -> None:
    fake = sasl_client(world)
    start(fake)
    assert codes(fake.send("AUTHENTICATE " + payload)) == ["900", "903"]


@pytest.mark.parametrize(
    "payload",
    [
        plain("jilles", "millet"),  # wrong password
        plain("nobody", "sesame"),  # no such account
        plain("jilles", "sesame", authzid="other"),  # acting as someone else
        plain("", "sesame"),
        plain("jilles", ""),
        base64.b64encode(b"jilles\0sesame").decode(),  # two fields
        base64.b64encode(b"\0jilles\0sesa\0me").decode(),  # four fields
        base64.b64encode(b"\0jil\xffles\0sesame").decode(),  # not UTF-8
        "!!!",  # not base64
        "amlsbGVz=",  # bad padding
    ],
)
def test_plain_failures(world: ServicesWorld, payload: str) -> None:
    fake = sasl_client(world)
    start(fake)
    out = fake.send("AUTHENTICATE " + payload)
    assert codes(out) == ["904"] and out[0].params[0] == "*"
    start(fake)  # and one may try again
    assert codes(fake.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]


def test_plain_in_400_byte_chunks(world: ServicesWorld) -> None:
    long_password = "bar" * 100
    world.accounts.create("foo", world.accounts.make_credentials(long_password))
    payload = plain("foo", long_password, authzid="foo")
    assert len(payload) > 400
    fake = sasl_client(world)
    start(fake)
    assert fake.send("AUTHENTICATE " + payload[:400]) == []
    assert codes(fake.send("AUTHENTICATE " + payload[400:])) == ["900", "903"]


def test_a_response_of_exactly_400_bytes_ends_with_plus(world: ServicesWorld) -> None:
    password = "bar" * 97
    world.accounts.create("foo", world.accounts.make_credentials(password))
    payload = plain("foo", password, authzid="foo")
    assert len(payload) == 400
    fake = sasl_client(world)
    start(fake)
    assert fake.send("AUTHENTICATE " + payload) == []
    assert codes(fake.send("AUTHENTICATE +")) == ["900", "903"]


def test_oversized_lines_and_responses(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    start(fake)
    out = fake.send("AUTHENTICATE " + "A" * 401)
    assert codes(out) == ["905"] and out[0].params[0] == "*"
    start(fake)
    chunk = "A" * 400
    for _ in range(20):
        assert fake.send("AUTHENTICATE " + chunk) == []
    assert codes(fake.send("AUTHENTICATE " + chunk)) == ["904"]  # over 8 KiB in all
    start(fake)
    assert codes(fake.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]


def test_abort(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    assert codes(fake.send("AUTHENTICATE *")) == ["906"]
    start(fake)
    out = fake.send("AUTHENTICATE *")
    assert codes(out) == ["906"] and out[0].params[0] == "*"
    start(fake, "SCRAM-SHA-256")
    fake.send("AUTHENTICATE " + base64.b64encode(b"n,,n=jilles,r=abc").decode())
    assert codes(fake.send("AUTHENTICATE *")) == ["906"]
    finish_registration(fake)
    assert fake.client.account == ""


def test_unknown_mechanism_lists_ours(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    out = fake.send("AUTHENTICATE FOO")
    assert codes(out) == ["908", "904"]
    assert out[0].params == ["*", "PLAIN,EXTERNAL,SCRAM-SHA-256", "are available SASL mechanisms"]


def test_second_sasl_before_registration_is_907(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    start(fake)
    fake.send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert codes(fake.send("AUTHENTICATE PLAIN")) == ["907"]


def test_nick_and_user_during_sasl_do_not_abort_it(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    start(fake)
    fake.send("NICK foo")
    assert fake.send("USER foo 0 * :Test") == []
    assert codes(fake.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]
    assert "001" in codes(fake.send("CAP END"))
    assert fake.client.account == "jilles"


def test_registration_during_sasl_aborts_it(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    start(fake)
    fake.register("reguser")
    out = fake.send("CAP END")
    assert codes(out)[:2] == ["906", "001"]
    assert fake.client.account == ""
    # sasl-3.2: a registered client may still authenticate
    start(fake)
    assert codes(fake.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]


def test_reauthentication_after_registration(world: ServicesWorld) -> None:
    world.accounts.create("foo", world.accounts.make_credentials("bar"))
    fake = sasl_client(world)
    start(fake)
    fake.send("AUTHENTICATE " + plain("foo", "bar"))
    finish_registration(fake, "user")
    watcher = world.client("watcher", caps=("account-notify",))
    world.channel("#c", watcher, fake)
    start(fake)
    out = fake.send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert codes(out) == ["900", "903"]  # no 901 in between
    assert out[0].params == [
        "user",
        "user!~user@127.0.0.1",
        "jilles",
        "You are now logged in as jilles",
    ]
    assert only(watcher.take(), "ACCOUNT").params == ["jilles"]
    assert world.places.get("#c").member_by_nick("user").account == "jilles"  # type: ignore[union-attr]


# -- EXTERNAL


def test_external(world: ServicesWorld) -> None:
    world.accounts.add_cert("jilles", FP)
    fake = sasl_client(world, certfp=FP)
    start(fake, "EXTERNAL")
    assert codes(fake.send("AUTHENTICATE +")) == ["900", "903"]
    other = sasl_client(world, certfp=FP)
    start(other, "EXTERNAL")
    assert codes(other.send("AUTHENTICATE " + base64.b64encode(b"jilles").decode())) == [
        "900",
        "903",
    ]


def test_external_failures(world: ServicesWorld) -> None:
    no_cert = sasl_client(world)
    assert codes(no_cert.send("AUTHENTICATE EXTERNAL")) == ["904"]
    unknown = sasl_client(world, certfp="12" * 32)
    start(unknown, "EXTERNAL")
    assert codes(unknown.send("AUTHENTICATE +")) == ["904"]
    world.accounts.add_cert("jilles", FP)
    wrong_authzid = sasl_client(world, certfp=FP)
    start(wrong_authzid, "EXTERNAL")
    assert codes(wrong_authzid.send("AUTHENTICATE " + base64.b64encode(b"root").decode())) == [
        "904"
    ]


# -- SCRAM-SHA-256


def scram_login(fake: FakeClient, user: str, password: str, ack: str = "+") -> list[Line]:
    """Run the client side; the lines after the last step."""
    start(fake, "SCRAM-SHA-256")
    bare = f"n={user},r=fyko+d2lbbFgONRv9qkxdawL"
    out = fake.send("AUTHENTICATE " + base64.b64encode(f"n,,{bare}".encode()).decode())
    assert codes(out) == ["AUTHENTICATE"], [m.format() for m in out]
    server_first = base64.b64decode(out[0].params[0]).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    assert fields["r"].startswith("fyko+d2lbbFgONRv9qkxdawL")
    without_proof = f"c=biws,r={fields['r']}"
    proof, server_signature = scram_client_proof(
        password,
        base64.b64decode(fields["s"]),
        int(fields["i"]),
        f"{bare},{server_first},{without_proof}".encode(),
    )
    final = f"{without_proof},p={base64.b64encode(proof).decode()}"
    out = fake.send("AUTHENTICATE " + base64.b64encode(final.encode()).decode())
    if codes(out) != ["AUTHENTICATE"]:
        return out
    assert base64.b64decode(out[0].params[0]) == b"v=" + base64.b64encode(server_signature)
    return fake.send("AUTHENTICATE " + ack)


def test_scram_sha_256(world: ServicesWorld) -> None:
    world.accounts.create("Scramtest", world.accounts.make_credentials("sesame"))
    fake = sasl_client(world)
    assert codes(scram_login(fake, "Scramtest", "sesame")) == ["900", "903"]
    finish_registration(fake)
    assert fake.client.account == "Scramtest"


def test_scram_with_a_device_attaches_as_that_device(world: ServicesWorld) -> None:
    """SCRAM usernames `account@device` (a client id, issue 13): the account logs
    in, the device names the session; a wrong password is still refused."""
    alice = world.registered("alice", "sesame-pw")
    wrong = sasl_client(world)
    assert codes(scram_login(wrong, "alice@phone", "not-it")) == ["904"]
    phone = sasl_client(world)
    assert codes(scram_login(phone, "alice@phone", "sesame-pw")) == ["900", "903"]
    phone.send("NICK other")
    phone.send("USER p 0 * :Phone")
    welcome = phone.send("CAP END")
    assert [m.params[0] for m in welcome if m.command == "001"] == ["alice"]
    assert phone.session.device == "phone" and phone.client is alice.client


def test_scram_failures(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    assert codes(scram_login(fake, "jilles", "millet")) == ["904"]
    assert codes(scram_login(fake, "nobody", "sesame")) == ["904"]
    start(fake, "SCRAM-SHA-256")
    assert codes(fake.send("AUTHENTICATE " + base64.b64encode(b"y,,n=x").decode())) == ["904"]
    start(fake, "SCRAM-SHA-256")
    assert codes(fake.send("AUTHENTICATE +")) == ["904"]  # empty client-first
    # The server-final must be acknowledged with an empty response.
    assert codes(scram_login(fake, "jilles", "sesame", ack="Kw==")) == ["904"]
    assert codes(scram_login(fake, "jilles", "sesame")) == ["900", "903"]


def test_scram_counts_towards_the_rate_limit(world: ServicesWorld) -> None:
    fake = sasl_client(world)
    for _ in range(5):
        assert codes(scram_login(fake, "jilles", "millet")) == ["904"]
    start(fake, "SCRAM-SHA-256")
    out = fake.send("AUTHENTICATE " + base64.b64encode(b"n,,n=jilles,r=abc").decode())
    assert codes(out) == ["904"] and "too many" in out[0].params[-1]


# -- rate limits and slow checks


def test_plain_is_rate_limited(world: ServicesWorld) -> None:
    fake = sasl_client(world, ip="10.1.1.1")
    for _ in range(5):
        start(fake)
        assert codes(fake.send("AUTHENTICATE " + plain("jilles", "millet"))) == ["904"]
    start(fake)
    out = fake.send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert codes(out) == ["904"] and "too many attempts" in out[0].params[-1]
    # Guesses from one address do not lock the account out elsewhere.
    elsewhere = sasl_client(world, ip="10.2.2.2")
    start(elsewhere)
    assert codes(elsewhere.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]
    world.advance(61)
    start(again := sasl_client(world, ip="10.1.1.1"))
    assert codes(again.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]


def test_parallel_plain_attempts_count_when_they_start(world: ServicesWorld) -> None:
    """Checks still under way count: the sixth attempt from an address is refused
    even though none of the first five has finished."""
    deferred = Deferred()
    world.core.offload = deferred
    guessers = [sasl_client(world, ip="10.1.1.1") for _ in range(6)]
    for fake in guessers:
        start(fake)
    for fake in guessers[:-1]:
        assert fake.send("AUTHENTICATE " + plain("jilles", "millet")) == []  # hashing
    out = guessers[-1].send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert codes(out) == ["904"] and "too many attempts" in out[0].params[-1]
    assert deferred.run() == 5
    assert all(codes(fake.take()) == ["904"] for fake in guessers[:-1])


def test_the_owners_certificate_is_spared_by_the_account_cap(world: ServicesWorld) -> None:
    fp = "ab" * 32
    world.accounts.add_cert("jilles", fp)
    world.core.config = dataclasses.replace(
        world.core.config,
        services=dataclasses.replace(world.core.config.services, login_account_attempts=4),
    )
    for n in range(4):
        start(guesser := sasl_client(world, ip=f"10.0.0.{n}"))
        assert codes(guesser.send("AUTHENTICATE " + plain("jilles", "millet"))) == ["904"]
    start(stranger := sasl_client(world, ip="10.9.9.9"))
    out = stranger.send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert "too many attempts" in out[0].params[-1]
    # With the account's certificate: PLAIN is let through, EXTERNAL always is.
    start(owner := sasl_client(world, ip="10.9.9.8", certfp=fp))
    assert codes(owner.send("AUTHENTICATE " + plain("jilles", "sesame"))) == ["900", "903"]
    start(external := sasl_client(world, ip="10.9.9.7", certfp=fp), "EXTERNAL")
    assert codes(external.send("AUTHENTICATE +")) == ["900", "903"]


def test_a_full_hashing_queue_refuses_plain_without_counting(world: ServicesWorld) -> None:
    world.core.offload = lambda *args: False  # the address has its share queued
    fake = sasl_client(world, ip="10.1.1.1")
    for _ in range(8):
        start(fake)
        out = fake.send("AUTHENTICATE " + plain("jilles", "sesame"))
        assert codes(out) == ["904"] and "password checks" in out[0].params[-1]
    assert not world.accounts.limiter._ips  # refused before any check: nothing counted


def test_plain_and_pass_for_an_unknown_account_cost_what_a_wrong_password_costs(
    world: ServicesWorld,
) -> None:
    """SASL PLAIN (and PASS account:password) naming an account that does not exist:
    the same answer as a wrong password, and no sooner, for its check goes through the
    same hashing queue (and verifies against a dummy argon2 hash)."""
    verified: list[str] = []

    def verify(hash: str, password: str) -> bool:
        verified.append(hash)
        return fast_verify(hash, password)

    world.accounts._verify = verify
    deferred = Deferred()
    world.core.offload = deferred
    answers = []
    for name in ("jilles", "nosuch"):
        start(fake := sasl_client(world, ip="10.1.1.1"))
        assert fake.send("AUTHENTICATE " + plain(name, "millet")) == []  # being checked
        assert deferred.run() == 1
        answers.append([m.format() for m in fake.take()])
    assert answers == [[":irc.localhost 904 * :SASL authentication failed"]] * 2
    assert len(verified) == 2 and verified[0] != verified[1]  # the dummy hash, not jilles'
    # The address's share of the queue used up: BUSY for both, and nothing counted.
    world.core.offload = lambda *args: False
    for name in ("jilles", "nosuch"):
        start(fake := sasl_client(world, ip="10.2.2.2"))
        out = fake.send("AUTHENTICATE " + plain(name, "millet"))
        assert [m.format() for m in out] == [f":irc.localhost 904 * :{BUSY}"]
    # PASS: the same wait and the same refusal.
    world.core.offload = deferred
    refusals = []
    for name in ("jilles", "nosuch"):
        fake = world.connect("10.3.3.3")
        assert fake.send(f"PASS {name}:millet") == []  # being checked
        assert deferred.run() == 1
        refusals.append([m.format() for m in fake.take()])
    assert (
        refusals
        == [
            [
                ":irc.localhost 464 * :Password incorrect",
                "ERROR :Closing Link: 10.3.3.3 (Bad account or password)",
            ]
        ]
        * 2
    )
    assert len(verified) == 4


def test_a_slow_check_that_returns_after_an_abort_is_ignored(world: ServicesWorld) -> None:
    deferred = Deferred()
    world.core.offload = deferred
    fake = sasl_client(world)
    start(fake)
    assert fake.send("AUTHENTICATE " + plain("jilles", "sesame")) == []
    assert codes(fake.send("AUTHENTICATE *")) == ["906"]  # nothing in progress any more
    deferred.run()
    assert fake.take() == [] and fake.session.account == ""
    start(fake)
    fake.send("AUTHENTICATE " + plain("jilles", "sesame"))
    fake.session.lost("gone")
    deferred.run()  # no output, no crash
    start(late := sasl_client(world))
    late.send("AUTHENTICATE " + plain("jilles", "sesame"))
    assert deferred.run() == 1
    assert codes(late.take()) == ["900", "903"]


# -- draft/account-registration


def test_register_before_connect(world: ServicesWorld) -> None:
    fake = world.connect()
    fake.send("CAP LS 302")
    fake.send("NICK bar")
    out = fake.send("REGISTER * * shivarampassphrase")
    assert only(out, "REGISTER").params == ["SUCCESS", "bar", "Account created"]
    assert only(out, "900").params[2] == "bar"
    fake.send("USER u 0 * :u")
    fake.send("CAP END")
    assert fake.client.account == "bar"
    out = fake.send("REGISTER other * pass-word")
    assert only(out, "FAIL").params[:3] == ["REGISTER", "ALREADY_AUTHENTICATED", "bar"]


def test_register_after_connect_with_a_custom_name(world: ServicesWorld) -> None:
    fake = world.client("bar", caps=("account-notify",))
    out = fake.send("REGISTER foo foo@example.org passphrase")
    assert only(out, "REGISTER").params[:2] == ["SUCCESS", "foo"]
    assert only(out, "ACCOUNT").params == ["foo"]
    assert fake.client.account == "foo"
    row = world.store.db.execute("SELECT email FROM accounts WHERE folded = 'foo'").fetchone()
    assert row == ("foo@example.org",)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("REGISTER jilles * pass-word", "ACCOUNT_EXISTS"),
        ("REGISTER JILLES * pass-word", "ACCOUNT_EXISTS"),
        ("REGISTER bad!name * pass-word", "BAD_ACCOUNT_NAME"),
        ("REGISTER nickserv * pass-word", "BAD_ACCOUNT_NAME"),
        ("REGISTER squatter * pass-word", "ACCOUNT_EXISTS"),  # somebody online uses that nick
        ("REGISTER foo not-an-email pass-word", "INVALID_EMAIL"),
    ],
)
def test_register_failures(world: ServicesWorld, line: str, code: str) -> None:
    world.client("squatter")
    fake = world.client("bar")
    out = fake.send(line)
    assert only(out, "FAIL").params[:2] == ["REGISTER", code]
    assert fake.client.account == ""


def test_register_refuses_weak_passwords(world: ServicesWorld) -> None:
    fake = world.client("bar")
    out = fake.send("REGISTER * * x")
    assert only(out, "FAIL").params == [
        "REGISTER",
        "WEAK_PASSWORD",
        "bar",
        "The password must be at least 8 characters long.",
    ]
    out = fake.send("REGISTER longername * LongerName")
    assert only(out, "FAIL").params[:2] == ["REGISTER", "WEAK_PASSWORD"]
    assert world.accounts.get("longername") is None and fake.client.account == ""
    assert only(fake.send("REGISTER * * 8-chars!"), "REGISTER").params[0] == "SUCCESS"


def test_register_needs_a_nick_for_star(world: ServicesWorld) -> None:
    fake = world.connect()
    out = fake.send("REGISTER * * pass-word")
    assert only(out, "FAIL").params[:3] == ["REGISTER", "NEED_NICK", "*"]


def test_register_configuration() -> None:
    world = ServicesWorld(registration_before_connect=False, registration_email_required=True)
    try:
        fake = world.connect()
        ls = " ".join(m.params[-1] for m in fake.send("CAP LS 302"))
        assert "draft/account-registration=custom-account-name,email-required" in ls.split()
        fake.send("NICK bar")
        out = fake.send("REGISTER * * pass-word")
        assert only(out, "FAIL").params[:2] == ["REGISTER", "COMPLETE_CONNECTION_REQUIRED"]
        fake.send("USER u 0 * :u")
        fake.send("CAP END")
        out = fake.send("REGISTER * * pass-word")
        assert only(out, "FAIL").params[:2] == ["REGISTER", "INVALID_EMAIL"]
        out = fake.send("REGISTER * bar@example.org pass-word")
        assert only(out, "REGISTER").params[0] == "SUCCESS"
    finally:
        world.close()


def test_concurrent_registrations_of_one_name_have_one_winner(world: ServicesWorld) -> None:
    deferred = Deferred()
    world.core.offload = deferred
    first, second = world.client("one"), world.client("two")
    assert first.send("REGISTER samename * password1") == []  # hashing
    out = second.send("REGISTER SameName * password2")
    assert only(out, "FAIL").params[:2] == ["REGISTER", "ACCOUNT_EXISTS"]
    deferred.run()
    assert only(first.take(), "REGISTER").params[:2] == ["SUCCESS", "samename"]
    assert world.store.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 2


def test_verify_has_nothing_to_verify(world: ServicesWorld) -> None:
    fake = world.client("bar")
    out = fake.send("VERIFY bar 12345")
    assert only(out, "FAIL").params[:3] == ["VERIFY", "INVALID_CODE", "bar"]
