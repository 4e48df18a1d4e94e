"""The XEP-0114 link: a slixmpp `ComponentXMPP` that carries stanzas for the gateway.

The adapter is thin: every message, presence and iq the XMPP server sends goes
to `Gateway.handle` as an ElementTree element, and every element the gateway
outputs is serialised onto the stream.  slixmpp's own stanza handlers (roster,
presence probes) are removed, so nothing answers for the gateway behind its back.

The link never takes the IRC side down: a refused handshake, a lost
connection or an XMPP server that is not there yet only means another attempt
after a delay that doubles up to `[xmpp] reconnect_max` seconds; an exception
in a handler is logged and the stanza dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from ircpsyc.config import parse_hostport
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.bridge import Bridge
from ircpsyc.xmpp.gateway import Gateway

if TYPE_CHECKING:
    from ircpsyc.config import XmppSection
    from ircpsyc.xmpp.host import Core

log = logging.getLogger(__name__)

FIRST_DELAY = 0.5  # seconds before the first reconnection attempt


def install(core: Core) -> Gateway:
    """The gateway for `core`, with the bridges of its configuration (no link yet)."""
    gateway = Gateway(core, lambda: core.config.xmpp)
    for entry in core.config.xmpp.bridge:
        gateway.bridges.append(Bridge(gateway, entry.channel, entry.room))
    return gateway


class Component:
    """Keeps the component connected to the XMPP server for as long as it runs."""

    def __init__(self, gateway: Gateway, settings: XmppSection) -> None:
        self.gateway = gateway
        self.settings = settings
        self.host, self.port = parse_hostport(settings.server)
        self.delay = FIRST_DELAY
        self.stopping = False
        self.link: Any = None
        self._retry: asyncio.TimerHandle | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        try:
            from slixmpp import ComponentXMPP  # noqa: F401  (the optional dependency)
        except ImportError:
            log.error(
                "[xmpp] is enabled but slixmpp is not installed (pip install 'ircpsyc[xmpp]')"
            )
            return
        self.link = _make_link(self)
        self.gateway.output = self._output
        self._connect()

    def _connect(self) -> None:
        self._retry = None
        if self.stopping or self.link is None:
            return
        log.info("XMPP: connecting to %s:%d as %s", self.host, self.port, self.settings.domain)
        self.link.connect(self.host, self.port)

    def _output(self, element: Element) -> None:
        link = self.link
        if link is None or link.transport is None:
            self.gateway.link_down(time.monotonic())
            self.gateway.queue.append(element)
            return
        from slixmpp.xmlstream.tostring import tostring

        try:
            link.send_raw(tostring(element, xmlns=S.COMPONENT))
        except Exception:
            log.exception("XMPP: cannot send a stanza")

    # -- events from the link

    def session_started(self) -> None:
        log.info("XMPP: component %s is connected", self.settings.domain)
        self.delay = FIRST_DELAY
        self.connected.set()
        try:
            self.gateway.link_up()
        except Exception:
            log.exception("XMPP: error after connecting")

    def disconnected(self, reason: object) -> None:
        self.connected.clear()
        self.gateway.link_down(time.monotonic())
        if self.stopping:
            return
        log.warning("XMPP: link lost (%s); next attempt in %.1fs", reason or "closed", self.delay)
        self._schedule()

    def next_delay(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.settings.reconnect_max)
        return delay

    def _schedule(self) -> None:
        if self._retry is not None or self.stopping:
            return
        loop = asyncio.get_running_loop()
        self._retry = loop.call_later(self.next_delay(), self._connect)

    async def stop(self) -> None:
        self.stopping = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        link = self.link
        if link is None:
            return
        if self.gateway.up:
            with contextlib.suppress(Exception):
                self.gateway.shutdown()
        link.cancel_connection_attempt()
        if link.transport is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.disconnect(wait=1.0), 2.0)
        with contextlib.suppress(Exception):
            link.abort()


def _make_link(owner: Component) -> Any:
    """The slixmpp component, built here so that slixmpp is only imported when used."""
    from slixmpp import ComponentXMPP
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    class Link(ComponentXMPP):
        def __init__(self) -> None:
            settings = owner.settings
            super().__init__(  # type: ignore[no-untyped-call]
                settings.domain, settings.secret, owner.host, owner.port
            )
            for name in ("IM", "IMError", "Presence"):
                self.remove_handler(name)
            self.del_event_handler("presence_probe", self._handle_probe)
            for kind in ("message", "presence", "iq"):
                self.register_handler(
                    Callback(
                        f"ircpsyc {kind}",
                        MatchXPath(f"{{{S.COMPONENT}}}{kind}"),
                        self._stanza,
                    )
                )
            self.add_event_handler("session_start", lambda _: owner.session_started())
            self.add_event_handler("disconnected", owner.disconnected)
            self.add_event_handler("stream_error", self._stream_error)
            self.add_event_handler("connection_failed", self._failed)

        def _stanza(self, stanza: Any) -> None:
            owner.gateway.handle(stanza.xml)

        def _stream_error(self, error: Any) -> None:
            log.error("XMPP: the server closed the stream: %s", error["condition"])

        def _failed(self, error: Any) -> None:
            log.warning("XMPP: cannot connect to %s:%d: %s", owner.host, owner.port, error)

        def reschedule_connection_attempt(self) -> Any:
            # slixmpp would wait up to 300 s between attempts; ours doubles up to reconnect_max.
            if self._current_connection_attempt is None or owner.stopping:
                return None
            self._connect_loop_wait = owner.next_delay()
            self._current_connection_attempt = asyncio.ensure_future(self._connect_loop())
            return self._current_connection_attempt

        def exception(self, error: Exception) -> None:
            log.error("XMPP: error in the component link", exc_info=error)

    return Link()
