"""SASL (IRCv3 sasl-3.1 and 3.2): AUTHENTICATE with PLAIN, EXTERNAL and SCRAM-SHA-256.

Every server keeps the account table (ircpsyc.services.accounts), so SASL is
answered here, at the front-end, without a round trip to NickServ.  Responses
come in 400-byte base64 chunks (`+` ends one that is a multiple of 400 long,
or stands for an empty one; `*` aborts).  Before registration a success is
kept on the session and becomes the person's account at registration; after
registration (sasl-3.2) it logs the person in, or switches accounts.

The argon2 check of PLAIN runs through `IRCServer.offload`: the server holds
the connection's input until it is done, so a pipelined `CAP END` still comes
after the 903.  Every PLAIN and SCRAM attempt is counted by the login limits
(`LoginLimiter`) when it starts, before any check; EXTERNAL is not limited (a
certificate cannot be guessed).
"""

from __future__ import annotations

import base64
import binascii

from irctokens.line import Line

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.sasl_state import (
    BUSY,
    CHUNK,
    MAX_RESPONSE,
    MECHANISMS,
    NO_ACCOUNTS,
    NO_CAP,
    TOO_MANY,
    SaslState,
)
from ircpsyc.ircd.service_users import login_session
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.accounts import Account, ScramError, ScramServer
from ircpsyc.services.hash_queue import Work


def _fail(s: Session, state: SaslState, text: str = "SASL authentication failed") -> None:
    state.reset()
    s.numeric(N.ERR_SASLFAIL, text)


def _send(s: Session, data: bytes) -> None:
    """A server challenge, base64 in 400-byte chunks, `+` after a full last chunk."""
    encoded = base64.b64encode(data).decode()
    for start in range(0, len(encoded), CHUNK):
        s.reply("AUTHENTICATE", encoded[start : start + CHUNK])
    if len(encoded) % CHUNK == 0:
        s.reply("AUTHENTICATE", "+")


def _succeed(s: Session, state: SaslState, account: Account) -> None:
    state.reset()
    login_session(s, account.name)
    s.numeric(N.RPL_SASLSUCCESS, "SASL authentication successful")


# AUTHENTICATE <mechanism> | <base64 chunk> | + | *
@command("AUTHENTICATE", min_params=1, pre_registration=True)
def handle_authenticate(s: Session, msg: Line) -> None:
    param = msg.params[0]
    if s.core.accounts is None:
        s.numeric(N.ERR_SASLFAIL, NO_ACCOUNTS)
        return
    if C.SASL not in s.caps:
        # sasl-3.1: AUTHENTICATE needs the capability; reauthentication (sasl-3.2) is
        # for clients that have it.  Logged in already: 907, as Ergo answers.
        account = s.client.account if s.client is not None else s.account
        if account:
            s.numeric(N.ERR_SASLALREADY, f"You are already logged in as {account}")
        else:
            s.numeric(N.ERR_SASLFAIL, NO_CAP)
        return
    state = s.sasl
    if state is None:
        state = s.sasl = SaslState()
    if not state.mechanism:
        _start(s, state, param)
        return
    if param == "*":
        state.reset()
        s.numeric(N.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if len(param) > CHUNK:
        state.reset()
        s.numeric(N.ERR_SASLTOOLONG, "SASL message too long")
        return
    if param != "+":
        state.buffer += param
        if len(state.buffer) > MAX_RESPONSE:
            _fail(s, state, "SASL authentication failed: response too long")
            return
        if len(param) == CHUNK:
            return  # more to come
    data, state.buffer = state.buffer, ""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        _fail(s, state, "SASL authentication failed: invalid base64")
        return
    if state.mechanism == "PLAIN":
        _plain(s, state, raw)
    elif state.mechanism == "EXTERNAL":
        _external(s, state, raw)
    else:
        _scram(s, state, raw)


def _start(s: Session, state: SaslState, param: str) -> None:
    if param == "*":
        s.numeric(N.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if not s.registered and s.account:
        s.numeric(N.ERR_SASLALREADY, "You have already authenticated using SASL")
        return
    mechanism = param.upper()
    if mechanism not in MECHANISMS:
        s.numeric(N.RPL_SASLMECHS, ",".join(MECHANISMS), "are available SASL mechanisms")
        s.numeric(N.ERR_SASLFAIL, "SASL authentication failed: unknown mechanism")
        return
    if mechanism == "EXTERNAL" and not s.certfp:
        s.numeric(N.ERR_SASLFAIL, "SASL authentication failed: no TLS client certificate")
        return
    state.mechanism = mechanism
    s.reply("AUTHENTICATE", "+")


def split_device(name: str) -> tuple[str, str]:
    """`account@device` (a client id, as Ergo takes it): the account and the device."""
    account, _, device = name.partition("@")
    return account, device


def pass_login(s: Session, text: str) -> None:
    """`PASS account:password` or `PASS account@device:password` before registration,
    on a server without a server password: a login like SASL PLAIN's.  A wrong one
    closes the connection (464), as a wrong server password does."""
    accounts = s.core.accounts
    name, colon, password = text.partition(":")
    if accounts is None or not colon or not name or not password or s.account:
        return
    name, device = split_device(name)
    account = accounts.get(name)
    certified = account is not None and bool(s.certfp) and s.certfp in account.certs
    limiter = accounts.limiter
    login = limiter.begin(name, s.ip, s.core.clock(), certified)

    def refuse(reason: str) -> None:
        s.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
        s.close(reason)

    if login is None:
        refuse("Too many login attempts, try again later")
        return

    def done(ok: bool | None) -> None:
        limiter.finish(login, bool(ok), s.core.clock())
        if s.closed or s.registered:
            return
        if not ok or account is None or accounts.get(account.name) is not account:
            refuse("Bad account or password")
            return
        s.device = device
        login_session(s, account.name)

    if not s.core.offload([s], accounts.check_job(account, password), done, Work.VERIFY):
        limiter.cancel(login)
        refuse("Too many password checks from your address, try again")


def _plain(s: Session, state: SaslState, raw: bytes) -> None:
    accounts = s.core.accounts
    assert accounts is not None
    parts = raw.split(b"\0")
    if len(parts) != 3:
        _fail(s, state)
        return
    try:
        authzid, authcid, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        _fail(s, state)
        return
    authcid, device = split_device(authcid)  # account@device: a client id
    authzid = split_device(authzid)[0]
    if not authcid or not password or (authzid and casefold(authzid) != casefold(authcid)):
        _fail(s, state)
        return
    limiter = accounts.limiter
    account = accounts.get(authcid)
    certified = account is not None and bool(s.certfp) and s.certfp in account.certs
    login = limiter.begin(authcid, s.ip, s.core.clock(), certified)
    if login is None:
        _fail(s, state, TOO_MANY)
        return
    attempt = state.attempt

    def done(ok: bool | None) -> None:
        limiter.finish(login, bool(ok), s.core.clock())
        if s.closed or state.attempt != attempt:
            return  # aborted, or the connection is gone
        if not ok or account is None:
            _fail(s, state)
            return
        if accounts.get(account.name) is not account:
            _fail(s, state)  # dropped meanwhile
            return
        if not s.registered:
            s.device = device
        _succeed(s, state, account)

    if not s.core.offload([s], accounts.check_job(account, password), done, Work.VERIFY):
        limiter.cancel(login)
        _fail(s, state, BUSY)


def _external(s: Session, state: SaslState, raw: bytes) -> None:
    accounts = s.core.accounts
    assert accounts is not None
    try:
        authzid = raw.decode("utf-8")
    except UnicodeDecodeError:
        _fail(s, state)
        return
    account = accounts.by_certfp(s.certfp) if s.certfp else None
    if account is None:
        _fail(s, state, "SASL authentication failed: certificate not registered (NickServ CERT)")
        return
    authzid, device = split_device(authzid)  # account@device: a client id
    if authzid and casefold(authzid) != account.folded:
        _fail(s, state)
        return
    accounts.limiter.remember(account.name, s.ip, s.core.clock())
    if not s.registered:
        s.device = device
    _succeed(s, state, account)


def _scram(s: Session, state: SaslState, raw: bytes) -> None:
    accounts = s.core.accounts
    assert accounts is not None
    limiter = accounts.limiter
    scram = state.scram
    if scram is None:
        scram = ScramServer(accounts)
        try:
            challenge = scram.first(raw)
        except ScramError:
            _fail(s, state)
            return
        account = scram.account
        certified = account is not None and bool(s.certfp) and s.certfp in account.certs
        login = limiter.begin(scram.username, s.ip, s.core.clock(), certified)
        if login is None:
            _fail(s, state, TOO_MANY)
            return
        state.scram = scram
        state.login = login
        _send(s, challenge)
    elif not state.scram_done:
        login = state.login
        try:
            final = scram.final(raw)
        except ScramError:
            if login is not None:
                limiter.finish(login, False, s.core.clock())
            _fail(s, state)
            return
        assert scram.account is not None
        if login is not None:
            limiter.finish(login, True, s.core.clock())
        state.scram_done = True
        _send(s, final)
    else:
        account = scram.account
        if raw or account is None or accounts.get(account.name) is not account:
            _fail(s, state)
            return
        if not s.registered:
            s.device = scram.device  # account@device: a client id
        _succeed(s, state, account)
