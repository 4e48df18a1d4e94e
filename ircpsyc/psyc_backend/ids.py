"""Message ids: unique across restarts (random boot prefix) and cheap to make."""

from __future__ import annotations

import itertools
import secrets

_BOOT = secrets.token_hex(5)
_counter = itertools.count(1)


def new_id() -> str:
    return f"{_BOOT}{next(_counter):x}"
