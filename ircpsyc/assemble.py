"""The composition root's assembly of the IRC front-end and its services.

`ircpsyc.server.Server` calls these in order: `front_end` when it is built,
then, once the store is open, `attach_store`, `install_accounts` and
`install_chanserv` (which recreates the registered channels, so before the
listeners open).  Here, and only here, components are built and every hook is
registered: the command modules (ircpsyc.ircd.commands) only define handlers,
and the feature modules of ircpsyc.ircd only define what is registered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import ircpsyc.ircd.commands  # noqa: F401  (fills the command table)
from ircpsyc.ircd import caps as C
from ircpsyc.ircd.always_on import AlwaysOn
from ircpsyc.ircd.awaylog_hooks import AwayHooks, account_present, route_mention
from ircpsyc.ircd.client import GatewayAway
from ircpsyc.ircd.cloak import Cloaks
from ircpsyc.ircd.core import IRCServer
from ircpsyc.ircd.history_hooks import JoinReplay, PrivateHistory
from ircpsyc.ircd.hostnames import HostLookups
from ircpsyc.ircd.metadata import LoginMetadata
from ircpsyc.ircd.moderation import Moderation
from ircpsyc.ircd.read_markers import tell
from ircpsyc.ircd.replay import Replay, ReplayOnJoin
from ircpsyc.ircd.sasl_state import MECHANISMS
from ircpsyc.ircd.service_users import (
    LoginModes,
    Presence,
    ServiceUser,
    channel_home,
    from_service,
    registration_cap,
)
from ircpsyc.linking import Linking, linked
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services import chanserv as CS
from ircpsyc.services import nickserv as NS
from ircpsyc.services.always_on import AlwaysOnService
from ircpsyc.services.awaylog import AwayLog
from ircpsyc.services.history import History
from ircpsyc.services.marks import LastSeen, ReadMarkers

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceRegistry
    from ircpsyc.config import Config
    from ircpsyc.psyc_backend.router import Router
    from ircpsyc.services.accounts import Accounts
    from ircpsyc.services.registrations import ChannelRegistrations
    from ircpsyc.store import Store


def front_end(
    config: Config,
    router: Router,
    places: PlaceRegistry,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    boot: str = "",
    alone: bool | None = None,
) -> tuple[IRCServer, Linking]:
    """The IRC front-end with its history and away log (in memory until
    `attach_store`), operator state, host cloaking and host name lookups, and
    its network: a network of one unless [[links]] are configured (`Linking`
    keeps link timers on `monotonic`; `alone`, by default whether the
    configuration neither dials nor accepts links: see there)."""
    core = IRCServer(config, router, places, clock)
    _install_history(core)
    # Operator privileges, snomasks, K/D-lines, and the places' timers.
    moderation = Moderation(core)
    core.moderation = moderation
    core.person_observers.extend([moderation, GatewayAway()])
    core.person_observers.append(LoginMetadata(core, core.account_metadata))
    core.tickers.append(moderation.tick)
    core.cloaks = Cloaks(core)  # host cloaking, user mode +x
    core.hostnames = HostLookups(core)  # reverse DNS ([limits] resolve_hostnames)
    core.tickers.append(core.hostnames.tick)
    if alone is None:
        alone = not linked(config)
    linking = Linking(config, router, places, core, monotonic, clock, boot, alone)
    return core, linking


def _install_history(core: IRCServer) -> None:
    history = History(lambda: core.config, core.clock)
    awaylog = AwayLog(lambda: core.config, core.clock)
    core.history = history
    core.awaylog = awaylog

    def registered_account(nick: str) -> str:
        """The account named like `nick` (NickServ registers nicks as accounts)."""
        accounts = core.accounts
        account = accounts.get(nick) if accounts is not None else None
        return account.name if account is not None else ""

    awaylog.resolve = registered_account
    awaylog.present = partial(account_present, core)
    awaylog.route = partial(route_mention, core)
    core.readmarkers = ReadMarkers()
    core.readmarkers.arrived = lambda mine, target, stamp: tell(
        core.name, core.persons.by_account.get(mine, ()), mine, target, stamp
    )
    core.lastseen = LastSeen()
    replay = Replay(core)  # what each device missed, the away log, the replay on JOIN
    core.places.observers.extend([history, awaylog, JoinReplay(core), ReplayOnJoin(replay)])
    core.person_observers.extend([PrivateHistory(core), AwayHooks(core), replay])
    if core.config.history.enabled:
        core.extra_caps[C.CHATHISTORY] = _no_value
        core.extra_caps[C.EVENT_PLAYBACK] = _no_value


def _no_value() -> str:
    return ""


def attach_store(core: IRCServer, store: Store) -> None:
    """Keep history, away logs and the metadata of accounts in the store from now on."""
    core.history.attach(store)
    core.awaylog.attach(store)
    core.account_metadata.attach(store)
    core.readmarkers.attach(store)
    core.lastseen.attach(store)


def install_accounts(core: IRCServer, accounts: Accounts) -> NS.NickServ:
    """Run the account service in `core`: the NickServ entity on the router, its
    pseudo-user, the `sasl` and `draft/account-registration` capabilities, and the
    observer that tells NickServ who uses which nick.  Returns the entity."""
    nickserv = NS.NickServ(
        core.router, core.name, accounts, core.clock, lambda: core.config.services
    )
    core.router.register(nickserv)
    core.router.register(nickserv.sync)  # psyc://SERVER/$accounts
    core.tickers.append(nickserv.sync.tick)
    net = core.net  # accounts are decided by their home server, held by all
    nickserv.sync.attach(net.network)
    nickserv.elsewhere = lambda folded: [
        p.nick for p in net.persons() if p.account and casefold(p.account) == folded
    ]
    core.accounts = accounts
    core.nickserv = nickserv
    core.service_requests = from_service
    core.service_users[casefold(NS.NICK)] = ServiceUser(
        core, NS.NICK, NS.USER, NS.HOST, NS.REALNAME, nickserv.uniform
    )
    core.person_observers.append(Presence(core, nickserv.uniform))
    core.tickers.append(lambda now: nickserv.tick())
    core.extra_caps[C.SASL] = lambda: ",".join(MECHANISMS)
    core.extra_caps[C.ACCOUNT_REGISTRATION] = lambda: registration_cap(core)
    return nickserv


def install_chanserv(
    core: IRCServer, registrations: ChannelRegistrations, accounts: Accounts
) -> CS.ChanServ:
    """Run ChanServ in `core` (the entity, its pseudo-user, its place hooks, the modes
    of members who log in, NickServ DROP handing a founder's channels on) and
    recreate the registered channels; returns the entity."""
    chanserv = CS.ChanServ(
        core.router,
        core.name,
        core.places,
        registrations,
        accounts,
        core.clock,
        lambda: core.config.services,
    )
    chanserv.home = lambda channel: channel_home(core, channel)
    network = core.net.network
    chanserv.hashed_home = network.hashed_home
    chanserv.keep_home = lambda channel: network.moved_to(channel, network.me)
    core.router.register(chanserv)
    core.service_users[casefold(CS.NICK)] = ServiceUser(
        core, CS.NICK, CS.USER, CS.HOST, CS.REALNAME, chanserv.uniform
    )
    core.places.observers.append(chanserv)
    core.person_observers.append(LoginModes(chanserv))
    accounts.dropped.append(chanserv.account_dropped)
    chanserv.start()
    return chanserv


def install_always_on(core: IRCServer, store: Store | None = None) -> AlwaysOn:
    """Always-on persons (after `install_accounts`, and after `install_chanserv` has
    recreated the registered channels): the directory keeps a logged-in person whose
    account is always-on when its last session leaves, a connection logging in to
    the account attaches to it, KILL and DROP end it, and the persons kept in
    `store` come back now.  Returns the feature."""
    service = AlwaysOnService(lambda: core.config.accounts, core.clock)
    if store is not None:
        service.attach(store)
    always_on = AlwaysOn(core, service)
    core.persons.keepers.append(always_on.keep)
    core.persons.disconnectors.append(always_on.disconnect)
    core.person_observers.append(always_on)
    core.tickers.append(always_on.tick)
    if core.accounts is not None:
        core.accounts.dropped.append(always_on.dropped)
    if core.nickserv is not None:
        core.nickserv.always_on = service
    always_on.restore()
    return always_on
