"""Account commands: `NS`/`NICKSERV` (an alias for PRIVMSG NickServ), and the
IRCv3 `draft/account-registration` REGISTER and VERIFY.

NickServ's pseudo-user, logins and what NickServ asks of persons are
`ircpsyc.ircd.service_users`; the account service is built and wired by the
composition root (ircpsyc.assemble).  With server linking, registrations and
changes are decided by each account's home server (ircpsyc.services.account_sync),
and every server holds all accounts.
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd.core import command
from ircpsyc.ircd.names import valid_nick
from ircpsyc.ircd.service_users import login_session, to_service
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services import nickserv as NS
from ircpsyc.services.accounts import (
    Account,
    AccountError,
    Credentials,
    password_problem,
    register_refusal,
    valid_email,
    weak_password,
)
from ircpsyc.services.hash_queue import Work


# NS <command> [<parameters>]   (also NICKSERV): PRIVMSG NickServ without the typing
@command("NS", "NICKSERV", min_params=1)
def handle_nickserv(s: Session, msg: Line) -> None:
    to_service(s, NS.NICK, " ".join(msg.params))


def _register_fail(s: Session, code: str, account: str, text: str) -> None:
    s.fail("REGISTER", code, account or "*", text)


# REGISTER <account> {<email> | *} <password>   (IRCv3 draft/account-registration)
@command("REGISTER", min_params=3, pre_registration=True)
def handle_register(s: Session, msg: Line) -> None:
    core = s.core
    wanted, email, password = msg.params[0], msg.params[1], msg.params[2]
    accounts = core.accounts
    settings = core.config.services
    if accounts is None:
        _register_fail(s, "TEMPORARILY_UNAVAILABLE", wanted, "Accounts are not available")
        return
    if not s.registered and not settings.registration_before_connect:
        _register_fail(
            s, "COMPLETE_CONNECTION_REQUIRED", wanted, "Finish connecting before registering"
        )
        return
    current = s.client.account if s.client is not None else s.account
    if current:
        _register_fail(s, "ALREADY_AUTHENTICATED", current, "You are already logged in")
        return
    # `REGISTER *` names the account after the nick, or the one just refused (433): that
    # nick's holder then keeps it (ACCOUNT_EXISTS below), so nobody grabs a nick in use.
    name = (s.nick or s.nick_refused) if wanted == "*" else wanted
    if not name:
        _register_fail(s, "NEED_NICK", "*", "Choose a nick first, or name the account")
        return
    folded = casefold(name)
    if not valid_nick(name, core.config.limits.nicklen) or folded in core.service_users:
        _register_fail(s, "BAD_ACCOUNT_NAME", name, "That account name is not allowed")
        return
    email = "" if email == "*" else email
    if (email and not valid_email(email)) or (not email and settings.registration_email_required):
        _register_fail(s, "INVALID_EMAIL", name, "A valid e-mail address is required")
        return
    problem = password_problem(password)
    if problem:
        _register_fail(s, "UNACCEPTABLE_PASSWORD", name, problem)
        return
    weak = weak_password(password, name, settings.password_min_length)
    if weak:
        _register_fail(s, "WEAK_PASSWORD", name, weak)
        return
    holder = core.clients.get(folded) or core.net.find(name)
    pending = core.reserved.get(folded)
    taken = holder is not None and holder is not s.client
    if taken or (pending is not None and pending is not s):
        _register_fail(s, "ACCOUNT_EXISTS", name, "Somebody else is using that nick")
        return
    try:
        accounts.reserve(name)
    except AccountError as error:
        _register_fail(s, error.code, name, error.text)
        return
    wait = accounts.register_limiter.take(s.ip, core.clock())  # before the slow hash
    if wait:
        accounts.release(name)
        _register_fail(s, "TEMPORARILY_UNAVAILABLE", name, register_refusal(wait))
        return

    def created(result: Account | AccountError) -> None:
        if isinstance(result, AccountError):
            _register_fail(s, result.code, name, result.text)
            return
        if s.closed:
            return
        accounts.limiter.remember(result.name, s.ip, core.clock())
        s.reply("REGISTER", "SUCCESS", result.name, "Account created")
        login_session(s, result.name)

    def done(credentials: Credentials | None) -> None:
        if credentials is None:
            accounts.release(name)
            _register_fail(s, "TEMPORARILY_UNAVAILABLE", name, "Please try again later")
            return
        assert core.nickserv is not None
        # The account's home may be another server: the input waits for its answer
        # too, so a CAP END sent meanwhile finds the account made (or refused).
        answer = s.later()
        core.nickserv.sync.register(
            name, credentials, email, lambda result: answer(lambda: created(result))
        )

    def job() -> Credentials | None:
        try:
            return accounts.make_credentials(password)
        except Exception:
            return None

    if not core.offload([s], job, done, Work.HASH):
        accounts.release(name)
        accounts.register_limiter.untake(s.ip)
        _register_fail(s, "TEMPORARILY_UNAVAILABLE", name, NS.BUSY)


# VERIFY <account> <code>
@command("VERIFY", min_params=2, pre_registration=True)
def handle_verify(s: Session, msg: Line) -> None:
    s.fail("VERIFY", "INVALID_CODE", msg.params[0], "No verification is pending: none is needed")
