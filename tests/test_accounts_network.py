"""Accounts across linked servers, sans-IO: one home decides, every server holds a copy.

Three servers in a line (a - b - c) with their stores, NickServ and ChanServ;
account names are picked so their home is where the test wants it."""

from __future__ import annotations

import base64

from account_helpers import notices, plain
from helpers import FakeClient
from irctokens.line import Line
from netsim import Sim

from ircpsyc.services.account_sync import AccountSync

A, B, C = "a.test", "b.test", "c.test"
NAMES = [A, B, C]
LINE = [(A, B), (B, C)]
FP = "ab" * 32


def line3() -> Sim:
    sim = Sim(NAMES, LINE, services=True)
    sim.link_all()
    return sim


def sync(sim: Sim, server: str) -> AccountSync:
    nickserv = sim[server].core.nickserv
    assert nickserv is not None
    return nickserv.sync


def homed(sim: Sim, server: str, prefix: str = "acct") -> str:
    """An account name whose home is `server`."""
    return next(
        f"{prefix}{i}" for i in range(1000) if sync(sim, A).home_of_name(f"{prefix}{i}") == server
    )


def codes(lines: list[Line]) -> list[str]:
    return [m.command for m in lines]


def table(sim: Sim, server: str) -> dict[str, tuple[str, str, str, bool, tuple[str, ...]]]:
    """What a server holds: name -> (name, password hash, home, enforce, certs)."""
    accounts = sim[server].accounts
    assert accounts is not None
    return {
        a.folded: (a.name, a.password_hash, a.home or server, a.enforce, tuple(a.certs))
        for a in accounts
    }


def converged(sim: Sim, servers: list[str] | None = None) -> None:
    servers = servers or sorted(sim.servers)
    first = table(sim, servers[0])
    for server in servers[1:]:
        assert table(sim, server) == first, server


def register(sim: Sim, server: str, nick: str, password: str = "secret-pw") -> FakeClient:
    fake = sim[server].client(nick)
    sim.do(fake, f"PRIVMSG NickServ :REGISTER {password}")
    sim.settle()
    out = sim.lines(fake)
    assert "900" in codes(out), [m.format() for m in out]
    return fake


def sasl_client(sim: Sim, server: str, certfp: str = "") -> FakeClient:
    fake = FakeClient(sim[server], "127.0.0.1")  # type: ignore[arg-type]
    fake.session.certfp = certfp
    fake.send("CAP LS 302")
    fake.send("CAP REQ :sasl")
    fake.clear()
    return fake


def sasl_plain(sim: Sim, server: str, name: str, password: str) -> list[str]:
    fake = sasl_client(sim, server)
    assert codes(fake.send("AUTHENTICATE PLAIN")) == ["AUTHENTICATE"]
    return codes(fake.send(f"AUTHENTICATE {plain(name, password)}"))


# -- logging in anywhere


def test_register_on_a_identify_and_sasl_on_c() -> None:
    sim = line3()
    for home in NAMES:
        name = homed(sim, home, "alice")
        register(sim, A, name)
        converged(sim)
        assert table(sim, C)[name][2] == home
        other = sim[C].client(f"x{name}")
        sim.do(other, f"NS IDENTIFY {name} secret-pw")
        out = sim.lines(other)
        assert "900" in codes(out), [m.format() for m in out]
        assert sasl_plain(sim, C, name, "secret-pw") == ["900", "903"]
        assert sasl_plain(sim, B, name, "wrong") == ["904"]
        # INFO anywhere knows it, and sees who is logged in on other servers.
        sim.do(other, f"NS INFO {name}")
        assert f"Information on {name}:" in notices(sim.lines(other))


def test_registration_logs_in_and_nick_protection_knows_it_everywhere() -> None:
    sim = line3()
    name = homed(sim, C, "bob")
    fake = register(sim, A, name)
    sim.do(fake, "QUIT :bye")
    sim.settle()
    squatter = FakeClient(sim[C], "127.0.0.1")  # type: ignore[arg-type]
    out = squatter.register(name)
    assert any("is registered" in t for t in notices(out)), [m.format() for m in out]
    sim.tick(31.0)  # the grace time runs out: renamed
    assert sim[C].core.clients.get(name) is None


def test_concurrent_registrations_of_one_name_have_one_winner() -> None:
    for home in (B, A):
        sim = line3()
        name = homed(sim, home, "zed")
        x = sim[A].client("xx")
        y = sim[C].client("yy")
        # Both before anything travels.
        out = {x: x.send(f"REGISTER {name} * password-x")}
        out[y] = y.send(f"REGISTER {name} * password-y")
        sim.run()
        sim.settle()
        results = [
            [
                m.params[0] if m.command == "REGISTER" else m.params[1]
                for m in out[fake] + fake.take()
                if m.command in ("REGISTER", "FAIL")
            ]
            for fake in (x, y)
        ]
        assert sorted(r[0] for r in results) == ["ACCOUNT_EXISTS", "SUCCESS"], results
        converged(sim)
        assert len(table(sim, B)) == 1


def test_registration_with_the_home_unreachable_is_refused_clearly() -> None:
    sim = line3()
    name = homed(sim, C, "carol")
    sim.cut(B, C)
    fake = sim[A].client(name)
    sim.do(fake, "PRIVMSG NickServ :REGISTER secret-pw")
    texts = notices(sim.lines(fake))
    assert any("try again later" in t for t in texts), texts
    x = sim[A].client("xx")
    sim.do(x, f"REGISTER {homed(sim, C, 'carl')} * secret-pw")
    fails = [m.params[1] for m in sim.lines(x) if m.command == "FAIL"]
    assert fails == ["TEMPORARILY_UNAVAILABLE"]
    for server in NAMES:
        assert name not in table(sim, server)
    # Nothing was lost: once the home is back, the same registration works.
    sim.connect(B, C)
    sim.tick(2.0)
    sim.do(fake, "PRIVMSG NickServ :REGISTER secret-pw")
    sim.settle()
    assert "900" in codes(sim.lines(fake))
    converged(sim)


def test_no_answer_in_time_is_a_clear_error() -> None:
    sim = line3()
    name = homed(sim, C, "dave")
    fake = sim[A].client(name)
    fake.send("PRIVMSG NickServ :REGISTER secret-pw")  # the request is on the wire...
    sim.cut(B, C)  # ...and the link to the home breaks
    sim.tick(12.0)
    texts = notices(fake.take())
    assert any("try again later" in t for t in texts), texts
    assert not sync(sim, A).requests


# -- changes go to the home and reach everybody


def test_set_password_from_another_server_applies_everywhere() -> None:
    sim = line3()
    name = homed(sim, A, "erin")
    owner = register(sim, A, name)
    elsewhere = sim[C].client("erin_c")
    sim.do(elsewhere, f"NS IDENTIFY {name} secret-pw")
    sim.do(elsewhere, "NS SET PASSWORD new-password")
    sim.settle()
    assert "Your password has been changed." in notices(sim.lines(elsewhere))
    converged(sim)
    for server in NAMES:
        assert sasl_plain(sim, server, name, "new-password") == ["900", "903"]
        assert sasl_plain(sim, server, name, "secret-pw") == ["904"]
    sim.lines(owner)


def test_drop_logs_out_everywhere() -> None:
    sim = line3()
    name = homed(sim, B, "frank")
    owner = register(sim, A, name)
    elsewhere = sim[C].client("frank_c", caps=["account-notify"])
    sim.do(elsewhere, f"NS IDENTIFY {name} secret-pw")
    sim.settle()
    assert sim[C].core.clients["frank_c"].account == name
    sim.lines(elsewhere)
    sim.do(owner, "NS DROP secret-pw")
    sim.settle()
    assert f"The account {name} has been dropped." in notices(sim.lines(owner))
    out = sim.lines(elsewhere)
    assert "901" in codes(out), [m.format() for m in out]
    assert sim[C].core.clients["frank_c"].account == ""
    for server in NAMES:
        assert name not in table(sim, server)
    assert sasl_plain(sim, C, name, "secret-pw") == ["904"]


def test_enforce_and_certificates_from_another_server() -> None:
    sim = line3()
    name = homed(sim, A, "gina")
    register(sim, A, name)
    elsewhere = sim[C].client("gina_c")
    sim.do(elsewhere, f"NS IDENTIFY {name} secret-pw", "NS SET ENFORCE OFF", f"NS CERT ADD {FP}")
    sim.settle()
    texts = notices(sim.lines(elsewhere))
    assert f"Nick protection for {name} is now OFF." in texts
    assert any(t.startswith(f"Added {FP}") for t in texts), texts
    converged(sim)
    assert table(sim, B)[name][3] is False
    # SASL EXTERNAL on yet another server.
    fake = sasl_client(sim, B, certfp=FP)
    assert codes(fake.send("AUTHENTICATE EXTERNAL")) == ["AUTHENTICATE"]
    assert codes(fake.send("AUTHENTICATE +")) == ["900", "903"]
    # A fingerprint of another account is refused where it is typed.
    other = homed(sim, C, "hank")
    hank = register(sim, B, other)
    sim.do(hank, f"NS CERT ADD {FP}")
    assert any("belongs to another account" in t for t in notices(sim.lines(hank)))
    sim.do(elsewhere, f"NS CERT DEL {FP}")
    sim.settle()
    converged(sim)
    fake = sasl_client(sim, C, certfp=FP)
    fake.send("AUTHENTICATE EXTERNAL")
    assert codes(fake.send("AUTHENTICATE +")) == ["904"]


# -- servers that were apart


def test_a_split_server_converges() -> None:
    sim = line3()
    kept = homed(sim, A, "ivy")
    gone = homed(sim, B, "jack")
    owner = register(sim, A, kept)
    dropper = register(sim, A, gone)
    converged(sim)
    sim.cut(B, C)
    sim.tick(12.0)  # past the split grace
    sim.do(owner, "NS SET PASSWORD changed-pw")
    sim.do(dropper, "NS DROP secret-pw")
    fresh = register(sim, A, homed(sim, A, "kim"))
    sim.settle()
    # c still answers from its copy meanwhile.
    assert sasl_plain(sim, C, kept, "secret-pw") == ["900", "903"]
    sim.connect(B, C)
    sim.tick(3.0)
    converged(sim)
    assert gone not in table(sim, C)
    assert sasl_plain(sim, C, kept, "changed-pw") == ["900", "903"]
    sim.lines(fresh)


def test_a_restarted_server_gets_everything_back() -> None:
    """c loses everything (its store was in memory) and has no accounts of its own."""
    sim = line3()
    names = [register(sim, A, homed(sim, home, "lee")).nick for home in (A, B)]
    sim.kill(C)
    sim.tick(1.0)
    late = homed(sim, A, "max")
    register(sim, B, late)
    sim.start(C)
    sim.connect(B, C)
    sim.tick(3.0)
    converged(sim)
    for name in [*names, late]:
        assert name in table(sim, C)
    assert sasl_plain(sim, C, late, "secret-pw") == ["900", "903"]


def test_a_gap_in_the_counter_brings_a_snapshot() -> None:
    sim = line3()
    name = homed(sim, A, "nina")
    register(sim, A, name)
    # c misses a cast (as if a relay lost it): the next one shows the gap.
    sync(sim, C).copies[A].last -= 1
    other = homed(sim, A, "oscar")
    register(sim, A, other)
    sim.tick(1.0)
    converged(sim)
    assert other in table(sim, C)


def test_accounts_registered_before_linking_merge_first_registration_wins() -> None:
    sim = Sim(NAMES, LINE, services=True)
    accounts_a, accounts_c = sim[A].accounts, sim[C].accounts
    assert accounts_a is not None and accounts_c is not None
    # Each server alone: both have a "pat"; a's is older.  Plus one each of their own.
    accounts_a.create("pat", accounts_a.make_credentials("pw-of-a"))
    accounts_a.create("quinn", accounts_a.make_credentials("pw-quinn"))
    sim.now += 60
    accounts_c.create("Pat", accounts_c.make_credentials("pw-of-c"))
    accounts_c.create("rose", accounts_c.make_credentials("pw-rose"))
    user = sim[C].client("patc", caps=["account-notify"])
    sim.do(user, "NS IDENTIFY pat pw-of-c")
    assert sim[C].core.clients["patc"].account == "Pat"
    sim.lines(user)
    sim.link_all()
    sim.tick(2.0)
    converged(sim)
    held = table(sim, B)
    assert set(held) == {"pat", "quinn", "rose"}
    assert held["pat"][0] == "pat" and held["pat"][2] == A
    assert held["quinn"][2] == A and held["rose"][2] == C
    # Who was logged in to the losing registration is logged out and told why.
    out = sim.lines(user)
    assert "901" in codes(out)
    assert any("earlier" in t for t in notices(out))
    assert sim[C].core.clients["patc"].account == ""
    assert sasl_plain(sim, C, "pat", "pw-of-a") == ["900", "903"]
    assert sasl_plain(sim, C, "pat", "pw-of-c") == ["904"]
    # The accounts stay with the servers that had them: changes go there.
    assert sync(sim, B).home_of(sim[B].accounts.get("rose")) == C  # type: ignore[union-attr, arg-type]


def test_strangers_get_nothing() -> None:
    """Only servers of the configured network may ask for snapshots or changes."""
    from ircpsyc.psyc_backend.packet import Packet

    sim = line3()
    register(sim, A, homed(sim, A, "sue"))
    before = dict(sim[A].router._entities)
    sent: list[Packet] = []
    sim[A].router.send = lambda packet: sent.append(packet) or True  # type: ignore[method-assign]
    sync(sim, A).receive(
        Packet(
            "_request_accounts",
            {"_source": "psyc://evil.example/$accounts", "_target": sync(sim, A).uniform},
            {"_counter": "-1"},
        )
    )
    assert sent == []
    assert dict(sim[A].router._entities) == before


def test_single_server_registration_is_unchanged() -> None:
    sim = Sim([A], [], services=True)
    fake = sim[A].client("solo")
    sim.do(fake, "PRIVMSG NickServ :REGISTER secret-pw")
    assert "900" in codes(sim.lines(fake))
    assert sync(sim, A).home_of_name("solo") == A
    raw = base64.b64encode(b"\0solo\0secret-pw").decode()
    client = sasl_client(sim, A)
    client.send("AUTHENTICATE PLAIN")
    assert codes(client.send(f"AUTHENTICATE {raw}")) == ["900", "903"]


def test_an_account_whose_home_left_the_network_is_taken_over() -> None:
    import dataclasses

    sim = line3()
    name = homed(sim, B, "uma")
    register(sim, A, name)
    for server in NAMES:
        accounts = sim[server].accounts
        assert accounts is not None
        held = accounts.get(name)
        assert held is not None
        accounts.put(dataclasses.replace(held, home="gone.test"))
    user = sim[C].client("uma_c")
    sim.do(user, f"NS IDENTIFY {name} secret-pw", "NS SET PASSWORD moved-pw")
    sim.settle()
    assert "Your password has been changed." in notices(sim.lines(user))
    converged(sim)
    assert table(sim, A)[name][2] == B
    assert sim[C].core.clients["uma_c"].account == name  # nobody was logged out
    assert sasl_plain(sim, A, name, "moved-pw") == ["900", "903"]


def test_a_forged_context_in_a_unicast_is_ignored() -> None:
    from ircpsyc.psyc_backend.packet import Packet

    sim = line3()
    name = homed(sim, A, "vic")
    register(sim, A, name)
    target = sync(sim, C)
    last = target.copies[A].last
    target.receive(
        Packet(
            "_notice_account_drop",
            {
                "_source": "psyc://b.test/~mallory",
                "_context": "psyc://a.test/$accounts",
                "_counter": str(last + 1),
            },
            {"_account": name},
        )
    )
    assert name in table(sim, C)
    assert target.copies[A].last == last
