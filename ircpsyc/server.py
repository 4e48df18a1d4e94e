"""The composition root: builds the router, places, front-end and store, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import resource
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ircpsyc.admission import FULL, Admission, Connection, Quota
from ircpsyc.assemble import (
    attach_store,
    front_end,
    install_accounts,
    install_always_on,
    install_chanserv,
)
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.config import Config, ConfigError, Overrides, load, parse_hostport
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.durable import DurableEcho
from ircpsyc.ircd.hostnames import SystemResolver
from ircpsyc.ircd.protocol import IRCProtocol
from ircpsyc.ircd.session import Session
from ircpsyc.linking import linked
from ircpsyc.netaddr import address_group
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import set_casemapping
from ircpsyc.services.accounts import Accounts
from ircpsyc.services.hash_queue import FairQueue, Work
from ircpsyc.services.registrations import ChannelRegistrations
from ircpsyc.store import Store
from ircpsyc.tlsaccept import TLSListener
from ircpsyc.tlsutil import accept_any_client_certificate
from ircpsyc.web.websocket import WebProtocol

if TYPE_CHECKING:
    from ircpsyc.xmpp.component import Component

log = logging.getLogger("ircpsyc")

EXIT_CONFIG = 2  # as the command line exits for a bad configuration

TICK_SECONDS = 1.0
# Connections with pending output above which the flush waits 1 ms to coalesce more.
COALESCE_ABOVE = 256
# Descriptors kept back from client connections, for the store, server links, logs
# and the accept() that refuses: a share of the limit, and at least a minimum.
FD_RESERVE_MIN = 64
FD_RESERVE_SHARE = 0.05
DISPLACED = "Too many connections are registering"
DISPLACING_AT_ONCE = 16  # within the descriptor reserve


# argon2 is memory-hard (64 MiB a hash): a few threads, not one per login.
HASH_THREADS = 2


class PasswordWork:
    """The thread adapter of `FairQueue`: password jobs run on `threads` threads in
    the queue's order (logins first, sources in turn), each finishing back on the
    event loop."""

    def __init__(self, threads: int = HASH_THREADS) -> None:
        self.queue: FairQueue[tuple[Callable[[], Any], Callable[[asyncio.Future[Any]], None]]]
        self.queue = FairQueue()
        self.threads = threads
        self.running = 0
        self.closed = False
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="passwords")

    def submit(
        self,
        source: str,
        kind: Work,
        job: Callable[[], Any],
        finished: Callable[[asyncio.Future[Any]], None],
    ) -> bool:
        """Queue `job`; `finished(future)` runs on the loop when it is done.  False when
        `source` has its share queued already (nothing is queued then)."""
        if self.closed or not self.queue.push(source, kind, (job, finished)):
            return False
        self._start()
        return True

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        while self.running < self.threads and not self.closed:
            picked = self.queue.pop()
            if picked is None:
                return
            source, (job, finished) = picked
            self.running += 1
            future = loop.run_in_executor(self._executor, job)
            future.add_done_callback(functools.partial(self._ended, source, finished))

    def _ended(
        self,
        source: str,
        finished: Callable[[asyncio.Future[Any]], None],
        future: asyncio.Future[Any],
    ) -> None:
        self.running -= 1
        self.queue.done(source)
        if self.closed:
            return  # shutting down: the store its answer would write to is closing
        try:
            finished(future)
        finally:
            if not future.cancelled():
                self._start()

    def shutdown(self) -> None:
        self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)


class Server:
    """One ircpsyc process: listeners, the IRC front-end, places and the store."""

    def __init__(
        self, config: Config, path: str | None = None, overrides: Overrides | None = None
    ) -> None:
        self.config = config
        self.path = path
        self.overrides = overrides or Overrides()
        set_casemapping(config.server.casemapping)  # before any name is folded
        self.router = Router(config.server.name)
        self.places = PlaceRegistry(self.router, config.server.name, config)
        # The network: of this server alone unless [[links]] are configured.
        self.core, self.linking = front_end(config, self.router, self.places, time.time)
        self.core.on_rehash = self.reload
        self.store: Store | None = None
        # Client connections from accept() on (TLS handshakes included) to their close.
        self.admission: Admission[Connection] = Admission()
        self.core.on_registered = self._registered
        self.fd_budget = _fd_budget()
        self.listeners: list[asyncio.Server] = []
        self.kinds: dict[asyncio.Server, str] = {}  # what speaks on a listener, for the log
        self.tls_listener: TLSListener[IRCProtocol] | None = None
        self.web_tls_listener: TLSListener[WebProtocol] | None = None
        # Displaced connections whose descriptors are not closed yet: they still count.
        self._closing: set[Connection] = set()
        self.ssl_context: ssl.SSLContext | None = None
        self.stopped = asyncio.Event()
        self._tick: asyncio.Task[None] | None = None
        self.xmpp: Component | None = None  # the Jabber MUC gateway, when [xmpp] enabled
        self.resolver: SystemResolver | None = None  # client host names, once started
        self.dirty: list[IRCProtocol] = []
        self._deferred = False
        self.passwords = PasswordWork()  # argon2, fairly shared between addresses

    # -- output coalescing

    def schedule_flush(self) -> None:
        """One flush of every connection in `dirty` (output waiting) per loop iteration."""
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        if len(self.dirty) > COALESCE_ABOVE and not self._deferred:
            # A big fan-out: give the lines that follow within a millisecond a ride in
            # the same send() calls, instead of one system call per line per member.
            self._deferred = True
            asyncio.get_running_loop().call_later(0.001, self._flush)
            return
        self._deferred = False
        dirty, self.dirty = self.dirty, []
        sendq = self.core.config.limits.sendq_bytes
        for protocol in dirty:
            protocol.flush(sendq)

    # -- slow work (password hashing) off the event loop

    def offload(
        self,
        sessions: Sequence[Session],
        job: Callable[[], Any],
        done: Callable[[Any], None],
        kind: Work = Work.HASH,
        source: str = "",
    ) -> bool:
        """Queue `job` (password work of `kind`) for its source, the address of `source`
        or else of the first session, run it in a thread and `done(result)` back on
        the loop; the input of `sessions` waits meanwhile, so their next lines see the
        result, and what `done` sends them carries the label of the command that
        asked.  False (nothing queued, `done` never called) when that source has its
        share of the queue already."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not serving (tools, tests): just do it
            done(job())
            return True
        source = address_group(
            source or (sessions[0].ip if sessions else ""), self.config.limits.ipv6_prefix
        )
        answers: list[Callable[[Callable[[], None]], None]] = []

        def complete(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                log.error("offloaded work failed", exc_info=error)
                return
            done(future.result())

        def finished(future: asyncio.Future[Any]) -> None:
            try:
                if answers:
                    answers[0](lambda: complete(future))
                else:
                    complete(future)
            except Exception:
                log.exception("completing offloaded work failed")
            finally:
                for answer in answers[1:]:
                    answer(lambda: None)

        if not self.passwords.submit(source, kind, job, finished):
            return False
        answers.extend(s.later() for s in sessions)
        return True

    def _offload_for(
        self,
        uniform: str,
        job: Callable[[], Any],
        done: Callable[[Any], None],
        kind: Work = Work.HASH,
        source: str = "",
    ) -> bool:
        """NickServ's offload: hold the input of the person who asked."""
        entity = self.router.lookup(uniform)
        sessions = entity.sessions if isinstance(entity, Client) else []
        return self.offload(sessions, job, done, kind, source)

    # -- admission

    def admit(self, ip: str, protocol: Connection, per_address: bool = True) -> str:
        """The reason to refuse a new connection from `ip`, or "" to count it in.

        Called at accept(), before any TLS handshake, and again when the handshake
        is done (then it is counted already). A web connection from a trusted proxy
        is not `per_address`: its user's address comes with its request."""
        refusal = self.core.moderation.connect_refusal(ip)  # D-lines
        if refusal:
            return refusal
        limits = self.config.limits
        if len(self.core.clients) >= limits.max_clients:
            return FULL
        quota = Quota(
            limits.max_per_ip,
            limits.max_unregistered,
            self.fd_budget - len(self._closing),
            # A displaced connection's descriptor is closed at the loop's next turn:
            # so many at once, and no more, may be on their way out.
            displace=len(self._closing) < DISPLACING_AT_ONCE,
        )
        group = address_group(ip, limits.ipv6_prefix) if per_address else f"{ip}#{id(protocol)}"
        verdict = self.admission.admit(protocol, group, quota)
        if verdict.victim is not None:
            self._displace(verdict.victim)
        return verdict.refusal

    def readmit(self, protocol: IRCProtocol, ip: str) -> str:
        """WEBIRC: count `protocol` under the user's address `ip` instead of the
        gateway's; the reason to refuse it there, or ""."""
        self.admission.gone(protocol)
        return self.admit(ip, protocol)

    def _handshaking(self, protocol: Connection) -> TLSListener[Any] | None:
        """The TLS listener whose handshake `protocol` is still in, if any."""
        listeners: list[TLSListener[Any] | None] = [self.tls_listener, self.web_tls_listener]
        for tls in listeners:
            if tls is not None and tls.in_handshake(protocol):
                return tls
        return None

    def _displace(self, victim: Connection) -> None:
        tls = self._handshaking(victim)
        if tls is not None:
            if tls.cancel(victim):  # closed at once
                return
            self._closing.add(victim)  # till `disconnected`, when its socket is closed
            return
        self._closing.add(victim)
        victim.drop(DISPLACED)

    def _registered(self, session: Session) -> None:
        if isinstance(session.sink, IRCProtocol):
            self.admission.registered(session.sink)

    def disconnected(self, protocol: Connection) -> None:
        """A connection closed, or its TLS handshake ended without one, or a web
        connection became an IRC one (which counts itself); harmless twice."""
        self.admission.gone(protocol)
        if self._handshaking(protocol) is None:  # else its socket is not closed yet
            self._closing.discard(protocol)

    # -- life cycle

    async def start(self) -> None:
        _raise_fd_limit()
        self.fd_budget = _fd_budget()
        self.store = Store(self.config.storage.path)
        attach_store(self.core, self.store)
        self.core.moderation.attach_store(self.store)  # K-lines and D-lines
        self.core.cloaks.attach_store(self.store)  # the generated cloak secret, if any
        accounts = Accounts(self.store, lambda: self.core.config.services, self.core.clock)
        nickserv = install_accounts(self.core, accounts)
        nickserv.offload = self._offload_for
        # ChanServ recreates the registered channels: before anybody can connect.
        install_chanserv(self.core, ChannelRegistrations(self.store, self.core.clock), accounts)
        # Always-on persons come back into the channels ChanServ just recreated.
        install_always_on(self.core, self.store)
        self.core.offload = self.offload
        # The dummy hash that unknown account names are checked against, made now in a
        # hashing thread: the first unknown name then costs what later ones cost.
        self.offload([], functools.partial(accounts.check_unknown, ""), lambda _: None)
        self._install_resolver()
        loop = asyncio.get_running_loop()
        self._durable_echoes(loop, self.store)
        for i, entry in enumerate(self.config.listen.irc):
            host, port = parse_hostport(entry)
            with _opening(f"listen.irc[{i}]", entry):
                listener = await loop.create_server(
                    lambda: IRCProtocol(self, False), host, port, reuse_address=True, backlog=4096
                )
            self.listeners.append(listener)
        if self.config.listen.irc_tls:
            self.ssl_context = self._make_ssl_context()
            self.tls_listener = TLSListener(
                self.ssl_context,
                lambda: IRCProtocol(self, True),
                self.admit,
                self.disconnected,
                lambda protocol: protocol.drop(DISPLACED),
                lambda: self.config.limits.tls_handshake_timeout,
            )
            for i, entry in enumerate(self.config.listen.irc_tls):
                with _opening(f"listen.irc_tls[{i}]", entry):
                    self.tls_listener.listen(*parse_hostport(entry))
        await self._start_web()
        await self._start_proxied()
        self._tick = asyncio.create_task(self._ticker())
        log.info("%s listening on %s", self.config.server.name, ", ".join(self.described()))
        if self.config.listen.psyc_tls and self.ssl_context is None:
            self.ssl_context = self._make_ssl_context()
        await self.linking.start(self.ssl_context)  # opens listen.psyc, if configured
        if self.config.xmpp.enabled:
            self._start_xmpp()

    def _install_resolver(self) -> None:
        """Host names of clients ([limits] resolve_hostnames): the system's resolver."""
        self.resolver = SystemResolver()
        self.core.hostnames.resolver = self.resolver

    async def _start_web(self) -> None:
        """The web listeners (IRC over WebSocket and the web client): one that cannot be
        opened is logged and skipped, and IRC keeps running (the default one is on a
        fixed port that something else may hold). As for IRC, a connection is counted
        from accept(), before its TLS handshake."""
        loop = asyncio.get_running_loop()
        for entry in self.config.listen.web:
            host, port = parse_hostport(entry)
            try:
                listener = await loop.create_server(
                    lambda: WebProtocol(self, False), host, port, reuse_address=True, backlog=4096
                )
            except OSError as error:
                log.error("web listener %s: cannot listen: %s", entry, error)
                continue
            self.listeners.append(listener)
            self.kinds[listener] = "web"
            log.info("web client and WebSocket on http://%s/", entry)
        if not self.config.listen.web_tls:
            return
        if self.ssl_context is None:
            self.ssl_context = self._make_ssl_context()
        self.web_tls_listener = TLSListener(
            self.ssl_context,
            lambda: WebProtocol(self, True),
            lambda ip, protocol: protocol.admit(ip),
            self.disconnected,
            lambda protocol: protocol.drop(DISPLACED),
            lambda: self.config.limits.tls_handshake_timeout,
        )
        for entry in self.config.listen.web_tls:
            try:
                self.web_tls_listener.listen(*parse_hostport(entry))
            except OSError as error:
                log.error("web listener %s: cannot listen: %s", entry, error)
                continue
            log.info("web client and WebSocket on https://%s/", entry)

    async def _start_proxied(self) -> None:
        """Listeners behind a PROXY-protocol proxy (HAProxy): IRC and web."""
        listen = self.config.listen
        if not listen.irc_proxy and not listen.web_proxy:
            return
        from ircpsyc import proxy_protocol
        from ircpsyc.web.forwarded import parse_networks

        trusted = parse_networks(listen.proxy_from)
        loop = asyncio.get_running_loop()
        wanted: list[tuple[str, Callable[[], asyncio.Protocol], str]] = [
            (entry, lambda: IRCProtocol(self, False), "IRC behind PROXY")
            for entry in listen.irc_proxy
        ]
        wanted += [
            (entry, lambda: WebProtocol(self, False), "web behind PROXY")
            for entry in listen.web_proxy
        ]
        for entry, factory, kind in wanted:
            host, port = parse_hostport(entry)
            listener = await loop.create_server(
                proxy_protocol.wrap(factory, trusted),
                host,
                port,
                reuse_address=True,
                backlog=4096,
            )
            self.listeners.append(listener)
            self.kinds[listener] = kind

    def _start_xmpp(self) -> None:
        """The Jabber MUC gateway: whatever happens to it, the IRC side keeps running."""
        from ircpsyc.xmpp.component import Component, install

        try:
            self.xmpp = Component(install(self.core), self.config.xmpp)
            self.xmpp.start()
        except Exception:
            log.exception("the XMPP gateway could not start")

    def described(self) -> list[str]:
        """The listeners for the log: address, and what speaks there."""
        out = [
            "{}:{} ({})".format(*sock.getsockname()[:2], self.kinds.get(listener, "IRC"))
            for listener in self.listeners
            for sock in listener.sockets
        ]
        for tls, kind in (
            (self.tls_listener, "IRC over TLS"),
            (self.web_tls_listener, "web over TLS"),
        ):
            if tls is not None:
                out += [f"{address} ({kind})" for address in tls.addresses()]
        return out

    def addresses(self) -> list[str]:
        out = []
        for listener in self.listeners:
            for sock in listener.sockets:
                host, port = sock.getsockname()[:2]
                out.append(f"{host}:{port}")
        if self.tls_listener is not None:
            out += self.tls_listener.addresses()
        return out

    def _make_ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.config.tls.cert, self.config.tls.key)
        context.check_hostname = False
        # Ask for (but do not require) a client certificate, self-signed ones included,
        # for SASL EXTERNAL and NickServ CERT.
        accept_any_client_certificate(context)
        return context

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.core.tick(time.monotonic())
            except Exception:
                log.exception("timer sweep failed")

    def reload(self) -> str | None:
        """REHASH / SIGHUP: load the config again; keep the old one if the new one is bad."""
        try:
            config = load(self.path, self.overrides)
        except ConfigError as error:
            log.error("reload refused: %s", error)
            return str(error)
        if self.ssl_context is not None and config.tls.cert:
            try:
                self.ssl_context.load_cert_chain(config.tls.cert, config.tls.key)
            except (OSError, ssl.SSLError) as error:
                log.error("reload refused: %s", error)
                return f"{config.source}: tls.cert: {error}"
        if config.listen != self.config.listen:
            log.warning("listener changes take effect at the next restart")
        if config.xmpp != self.config.xmpp:
            # The gateway's puppets and rooms are built at start; rebuilding them live
            # would drop every XMPP occupant, which a restart does openly.
            log.warning("[xmpp] changes take effect at the next restart")
            self.core.moderation.snomasks.send("a", "Rehash: [xmpp] changes need a restart")
        self.config = config
        self.core.apply_config(config)
        for change in self.linking.reconfigure(config):
            log.info("reload: %s", change)
            self.core.moderation.snomasks.send("a", f"Rehash: {change}")
        if self.linking.alone and linked(config):
            log.warning("server links take effect at the next restart")
        log.info("configuration reloaded from %s", config.source)
        return None

    def _durable_echoes(self, loop: asyncio.AbstractEventLoop, store: Store) -> None:
        """Echoes of channel lines wait for their history batch's commit (DESIGN 6)."""
        history = self.core.history
        durable = DurableEcho(
            history, lambda: store.committed, loop.call_soon, self.core.router.host, store.hurry
        )
        self.core.durable = durable
        # Lines of persons of other servers: their servers hold the echoes until
        # we say they are committed; ours, of channels homed elsewhere, likewise.
        net_history = self.linking.history
        listeners = [durable.committed, net_history.committed]
        net_history.on_committed.append(durable.committed_there)
        durable.in_network = self.linking.network.in_network
        durable.timeout = lambda: self.core.config.network.request_timeout * 3
        self.linking.network.listeners.append(durable)
        self.core.tickers.append(durable.tick)

        def on_loop() -> None:
            for listener in listeners:
                listener()

        def committed() -> None:  # the writer thread: wake the loop
            loop.call_soon_threadsafe(on_loop)

        store.on_commit = committed

    async def stop(self, reason: str = "Server shutting down") -> None:
        for listener in self.listeners:
            listener.close()
        if self.tls_listener is not None:
            self.tls_listener.close()
        if self.web_tls_listener is not None:
            self.web_tls_listener.close()
        durable = self.core.durable
        if durable is not None and self.store is not None:
            self.store.flush()  # what was echoed so far is committed: send it
            self.store.on_commit = None
            durable.release_all()
            self.linking.history.committed()  # and tell the other servers
            self.core.durable = None
        if self.xmpp is not None:
            with contextlib.suppress(Exception):
                await self.xmpp.stop()
        self.core.shutdown(reason)
        await self.linking.stop()  # after the users left, so the peers hear it
        if self._tick is not None:
            self._tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick
        await asyncio.sleep(0.05)  # let transports flush their ERROR lines
        self.passwords.shutdown()
        if self.resolver is not None:
            self.resolver.close()
        if self.store is not None:
            self.store.close()
            self.store = None
        self.stopped.set()


class ListenError(Exception):
    """A listener could not be opened: names its configuration key and address."""

    def __init__(self, key: str, entry: str, error: OSError) -> None:
        self.key = key
        # A name that does not resolve is the configuration's fault; a port in use is not.
        self.config_problem = isinstance(error, socket.gaierror)
        reason = error.strerror or str(error)
        if self.config_problem:
            reason = f"cannot resolve {parse_hostport(entry)[0]!r}: {reason}"
        super().__init__(f"{key}: {entry}: {reason}")


@contextlib.contextmanager
def _opening(key: str, entry: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise ListenError(key, entry, error) from error


# The cyclic garbage collector's thresholds once the server runs.  Nearly everything a
# command makes (lines, packets, rendered bytes) is freed by reference counting, yet at
# the default 700 allocations a young collection ran every few commands, and the older
# generations, which walk every client and channel, ran in proportion.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect less often: what starting made (modules, configuration, the store's
    state) is set aside for good (`gc.freeze`: never walked again), and a young
    collection runs every GC_THRESHOLDS[0] allocations.  A garbage cycle lives a
    little longer; the collector's share of the server's CPU in the privmsg
    benchmark falls from 15% to 3% (benchmarks/README.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _fd_budget() -> int:
    """Client connections the descriptor limit leaves room for, after the reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    reserve = max(FD_RESERVE_MIN, int(soft * FD_RESERVE_SHARE))
    return max(1, soft - reserve)


async def _main(config: Config, path: str | None, overrides: Overrides) -> int:
    server = Server(config, path, overrides)
    loop = asyncio.get_running_loop()
    # Before the listeners open: a SIGHUP that comes as soon as the port answers must
    # reload, not kill the process (SIGHUP's default action).
    loop.add_signal_handler(signal.SIGHUP, server.reload)
    try:
        await server.start()
    except ListenError as error:
        log.error("cannot listen: %s: %s", config.source, error)
        await server.stop()
        return EXIT_CONFIG if error.config_problem else 1
    except OSError as error:
        log.error("cannot listen: %s", error)
        return 1
    tune_gc()
    stopping: list[asyncio.Task[None]] = []

    def shutdown(signame: str) -> None:
        if not stopping:
            log.info("%s: shutting down", signame)
            stopping.append(asyncio.create_task(server.stop("Server shutting down")))

    loop.add_signal_handler(signal.SIGTERM, shutdown, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, shutdown, "SIGINT")
    await server.stopped.wait()
    return 0


def serve(config: Config, path: str | None = None, overrides: Overrides | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; the exit code for the CLI."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_main(config, path, overrides or Overrides()))
    return uvloop.run(_main(config, path, overrides or Overrides()))
