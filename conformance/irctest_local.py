"""pytest plugin loaded into irctest by ``conformance.run`` (``-p irctest_local``).

It adapts an unmodified irctest checkout to this machine without patching it:

* Loopback only: irctest picks ports by binding ``("", 0)`` and then hands the
  resulting address (``0.0.0.0``) to the server under test as the address to
  listen on.  We make it pick ports on ``127.0.0.1`` instead, so every server
  (ircpsyc, ngIRCd, InspIRCd) binds loopback only.
* irctest's ngIRCd configuration says ``Bind = ADDRESS``, which ngIRCd 26 ignores
  ("Unknown variable") and then listens on all addresses; use ``Listen``.
* Debian's InspIRCd 3 package ships ``examples/helpop.conf.example`` under
  ``/usr/share/doc/inspircd/examples`` rather than next to its configuration
  directory, so irctest's InspIRCd configuration cannot include it; point the
  include at the Debian path when that is where the file is.
* No leaked servers: when a test is skipped or fails during set-up, irctest
  does not call the controller's ``kill()``.  Every process irctest starts
  (through ``execute()``, in its own session) and that is still running once the
  test is over is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
DEBIAN_INSPIRCD_EXAMPLES = Path("/usr/share/doc/inspircd/examples")


def find_loopback_port() -> tuple[str, int]:
    """Replacement for irctest's ``find_hostname_and_port``: a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        hostname, port = sock.getsockname()
    return hostname, port


def _patch_loopback() -> None:
    from irctest import basecontrollers
    from irctest.irc_utils import junkdrawer

    junkdrawer.find_hostname_and_port = find_loopback_port
    # basecontrollers did `from .junkdrawer import find_hostname_and_port`.
    basecontrollers.find_hostname_and_port = find_loopback_port  # type: ignore[attr-defined]


def _patch_ngircd_listen() -> None:
    from irctest.controllers import ngircd

    if "Listen =" not in ngircd.TEMPLATE_CONFIG:
        ngircd.TEMPLATE_CONFIG = ngircd.TEMPLATE_CONFIG.replace(
            "Bind = {hostname}", "Listen = {hostname}"
        )


def _patch_debian_inspircd() -> None:
    from irctest.controllers import inspircd

    include = 'include file="examples/helpop.conf.example"'
    example = DEBIAN_INSPIRCD_EXAMPLES / "helpop.conf.example"
    if include in inspircd.TEMPLATE_V3_CONFIG and example.is_file():
        inspircd.TEMPLATE_V3_CONFIG = inspircd.TEMPLATE_V3_CONFIG.replace(
            include, f'include file="{example}"'
        )


_started: list[subprocess.Popen[Any]] = []


def _patch_execute() -> None:
    from irctest.basecontrollers import _BaseController

    original = _BaseController.execute
    if getattr(original, "_irctest_local", False):
        return

    @functools.wraps(original)
    def execute(self: Any, *args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        proc = original(self, *args, **kwargs)
        _started.append(proc)
        return proc

    execute._irctest_local = True  # type: ignore[attr-defined]
    _BaseController.execute = execute  # type: ignore[method-assign]


def reap_leftovers() -> list[int]:
    """Kill processes started during the test that are still running; their PIDs."""
    killed = []
    while _started:
        proc = _started.pop()
        if proc.poll() is not None:
            continue
        # The leader is alive, so its PID (== its process group ID) is not reused.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            with contextlib.suppress(OSError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        killed.append(proc.pid)
    return killed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> Iterator[None]:
    try:
        return (yield)
    finally:
        reap_leftovers()


def pytest_unconfigure(config: Any) -> None:
    reap_leftovers()


def pytest_configure(config: Any) -> None:
    _patch_loopback()
    _patch_execute()
    controller = config.getoption("controller", default=None)
    if controller == "irctest.controllers.ngircd":
        _patch_ngircd_listen()
    elif controller == "irctest.controllers.inspircd":
        _patch_debian_inspircd()
