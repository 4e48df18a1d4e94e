"""The composition root: builds the router, places, front-end and store, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.config import Config, ConfigError, Overrides, load, parse_hostport
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.commands.account import install as install_accounts
from ircpsyc.ircd.commands.chanserv import install as install_chanserv
from ircpsyc.ircd.commands.chathistory import attach_store as attach_history
from ircpsyc.ircd.core import IRCServer
from ircpsyc.ircd.protocol import IRCProtocol
from ircpsyc.ircd.session import Session
from ircpsyc.linking import Linking
from ircpsyc.linking import wanted as linking_wanted
from ircpsyc.psyc_backend.router import Router
from ircpsyc.services.accounts import Accounts
from ircpsyc.services.registrations import ChannelRegistrations
from ircpsyc.store import Store
from ircpsyc.tlsutil import accept_any_client_certificate

if TYPE_CHECKING:
    from ircpsyc.xmpp.component import Component

log = logging.getLogger("ircpsyc")

TICK_SECONDS = 1.0
# Connections with pending output above which the flush waits 1 ms to coalesce more.
COALESCE_ABOVE = 256


class Server:
    """One ircpsyc process: listeners, the IRC front-end, places and the store."""

    def __init__(
        self, config: Config, path: str | None = None, overrides: Overrides | None = None
    ) -> None:
        self.config = config
        self.path = path
        self.overrides = overrides or Overrides()
        self.router = Router(config.server.name)
        self.places = PlaceRegistry(self.router, config.server.name, config)
        self.core = IRCServer(config, self.router, self.places, time.time)
        self.core.on_rehash = self.reload
        # Server links ([[links]], listen.psyc): channels and persons across servers.
        self.linking: Linking | None = None
        if linking_wanted(config):
            self.linking = Linking(config, self.router, self.places, self.core)
        self.store: Store | None = None
        self.per_ip: Counter[str] = Counter()
        self.listeners: list[asyncio.Server] = []
        self.ssl_context: ssl.SSLContext | None = None
        self.stopped = asyncio.Event()
        self._tick: asyncio.Task[None] | None = None
        self.xmpp: Component | None = None  # the Jabber MUC gateway, when [xmpp] enabled
        self.dirty: list[IRCProtocol] = []
        self._deferred = False
        # argon2 is memory-hard (64 MiB a hash): a few threads, not one per login.
        self._slow = ThreadPoolExecutor(max_workers=2, thread_name_prefix="passwords")

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
        self, sessions: Sequence[Session], job: Callable[[], Any], done: Callable[[Any], None]
    ) -> None:
        """Run `job` in a thread and `done(result)` back on the loop; the input of
        `sessions` waits meanwhile, so their next lines see the result, and what
        `done` sends them carries the label of the command that asked."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving (tools, tests): just do it
            done(job())
            return
        answers = [s.later() for s in sessions]

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

        loop.run_in_executor(self._slow, job).add_done_callback(finished)

    def _offload_for(
        self, uniform: str, job: Callable[[], Any], done: Callable[[Any], None]
    ) -> None:
        """NickServ's offload: hold the input of the person who asked."""
        entity = self.router.lookup(uniform)
        sessions = entity.sessions if isinstance(entity, Client) else []
        self.offload(sessions, job, done)

    # -- admission

    def admit(self, ip: str) -> str:
        """The reason to refuse a new connection from `ip`, or "" to let it in."""
        limits = self.config.limits
        if len(self.core.sessions) >= limits.max_clients:
            return "Server is full, try again later"
        if self.per_ip[ip] >= limits.max_per_ip:
            return "Too many connections from your IP address"
        return self.core.moderation.connect_refusal(ip)  # D-lines

    def connected(self, ip: str) -> None:
        self.per_ip[ip] += 1

    def disconnected(self, ip: str) -> None:
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]

    # -- life cycle

    async def start(self) -> None:
        _raise_fd_limit()
        self.store = Store(self.config.storage.path)
        attach_history(self.core, self.store)
        self.core.moderation.attach_store(self.store)  # K-lines and D-lines
        self.core.cloaks.attach_store(self.store)  # the generated cloak secret, if any
        accounts = Accounts(self.store, lambda: self.core.config.services, self.core.clock)
        nickserv = install_accounts(self.core, accounts)
        nickserv.offload = self._offload_for
        # ChanServ recreates the registered channels: before anybody can connect.
        install_chanserv(self.core, ChannelRegistrations(self.store, self.core.clock), accounts)
        self.core.offload = self.offload
        loop = asyncio.get_running_loop()
        for entry in self.config.listen.irc:
            host, port = parse_hostport(entry)
            listener = await loop.create_server(
                lambda: IRCProtocol(self, False), host, port, reuse_address=True, backlog=4096
            )
            self.listeners.append(listener)
        if self.config.listen.irc_tls:
            self.ssl_context = self._make_ssl_context()
            for entry in self.config.listen.irc_tls:
                host, port = parse_hostport(entry)
                listener = await loop.create_server(
                    lambda: IRCProtocol(self, True),
                    host,
                    port,
                    ssl=self.ssl_context,
                    reuse_address=True,
                    backlog=4096,
                )
                self.listeners.append(listener)
        await self._start_web()
        await self._start_proxied()
        self._tick = asyncio.create_task(self._ticker())
        log.info("%s listening on %s", self.config.server.name, ", ".join(self.addresses()))
        if self.linking is not None:
            if self.config.listen.psyc_tls and self.ssl_context is None:
                self.ssl_context = self._make_ssl_context()
            await self.linking.start(self.ssl_context)
        if self.config.xmpp.enabled:
            self._start_xmpp()

    async def _start_web(self) -> None:
        """The web listeners (IRC over WebSocket and the web client): one that cannot be
        opened is logged and skipped, and IRC keeps running (the default one is on a
        fixed port that something else may hold)."""
        wanted = [(entry, False) for entry in self.config.listen.web]
        wanted += [(entry, True) for entry in self.config.listen.web_tls]
        if not wanted:
            return
        from ircpsyc.web.websocket import WebProtocol

        loop = asyncio.get_running_loop()
        for entry, tls in wanted:
            if tls and self.ssl_context is None:
                self.ssl_context = self._make_ssl_context()
            host, port = parse_hostport(entry)
            try:
                listener = await loop.create_server(
                    lambda tls=tls: WebProtocol(self, tls),
                    host,
                    port,
                    ssl=self.ssl_context if tls else None,
                    reuse_address=True,
                    backlog=4096,
                )
            except OSError as error:
                log.error("web listener %s: cannot listen: %s", entry, error)
                continue
            self.listeners.append(listener)
            scheme = "https" if tls else "http"
            log.info("web client and WebSocket on %s://%s/", scheme, entry)

    async def _start_proxied(self) -> None:
        """Listeners behind a PROXY-protocol proxy (HAProxy): IRC and web."""
        listen = self.config.listen
        if not listen.irc_proxy and not listen.web_proxy:
            return
        from ircpsyc import proxy_protocol
        from ircpsyc.web.forwarded import parse_networks
        from ircpsyc.web.websocket import WebProtocol

        trusted = parse_networks(listen.proxy_from)
        loop = asyncio.get_running_loop()
        wanted: list[tuple[str, Callable[[], asyncio.Protocol]]] = [
            (entry, lambda: IRCProtocol(self, False)) for entry in listen.irc_proxy
        ]
        wanted += [(entry, lambda: WebProtocol(self, False)) for entry in listen.web_proxy]
        for entry, factory in wanted:
            host, port = parse_hostport(entry)
            listener = await loop.create_server(
                proxy_protocol.wrap(factory, trusted),
                host,
                port,
                reuse_address=True,
                backlog=4096,
            )
            self.listeners.append(listener)

    def _start_xmpp(self) -> None:
        """The Jabber MUC gateway: whatever happens to it, the IRC side keeps running."""
        from ircpsyc.xmpp.component import Component, install

        try:
            self.xmpp = Component(install(self.core), self.config.xmpp)
            self.xmpp.start()
        except Exception:
            log.exception("the XMPP gateway could not start")

    def addresses(self) -> list[str]:
        out = []
        for listener in self.listeners:
            for sock in listener.sockets:
                host, port = sock.getsockname()[:2]
                out.append(f"{host}:{port}")
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
        if self.linking is not None:
            for change in self.linking.reconfigure(config):
                log.info("reload: %s", change)
                self.core.moderation.snomasks.send("a", f"Rehash: {change}")
        elif linking_wanted(config):
            log.warning("server links take effect at the next restart")
        log.info("configuration reloaded from %s", config.source)
        return None

    async def stop(self, reason: str = "Server shutting down") -> None:
        for listener in self.listeners:
            listener.close()
        if self.xmpp is not None:
            with contextlib.suppress(Exception):
                await self.xmpp.stop()
        self.core.shutdown(reason)
        if self.linking is not None:
            await self.linking.stop()  # after the users left, so the peers hear it
        if self._tick is not None:
            self._tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick
        await asyncio.sleep(0.05)  # let transports flush their ERROR lines
        self._slow.shutdown(wait=False, cancel_futures=True)
        if self.store is not None:
            self.store.close()
            self.store = None
        self.stopped.set()


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _main(config: Config, path: str | None, overrides: Overrides) -> int:
    server = Server(config, path, overrides)
    loop = asyncio.get_running_loop()
    # Before the listeners open: a SIGHUP that comes as soon as the port answers must
    # reload, not kill the process (SIGHUP's default action).
    loop.add_signal_handler(signal.SIGHUP, server.reload)
    try:
        await server.start()
    except OSError as error:
        log.error("cannot listen: %s", error)
        return 1
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
