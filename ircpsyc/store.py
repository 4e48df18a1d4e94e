"""The embedded store: one SQLite file through sqlite-utils, WAL mode.

Schema changes are numbered migrations.  Durable writes (accounts,
registrations) go through `write_now`, committed before the caller answers;
high-volume writes (history, away log) go through `write_later`, grouped and
committed by one writer thread at least every 100 ms, off the event loop.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

log = logging.getLogger(__name__)

Migration = Callable[[sqlite_utils.Database], None]


def _m1_meta(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)


def _m2_server_bans(db: sqlite_utils.Database) -> None:
    db.table("server_bans").create(
        {"kind": str, "mask": str, "reason": str, "setter": str, "set_at": float, "expires": float},
        pk=("kind", "mask"),
        if_not_exists=True,
    )


MIGRATIONS: list[Migration] = [_m1_meta, _m2_server_bans]

Job = Callable[[sqlite_utils.Database], None]


class Store:
    """The SQLite store; open it once per process."""

    FLUSH_INTERVAL = 0.1

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = self._connect()
        self.migrate()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._writer_db = self._connect() if path != ":memory:" else self.db
        self._thread = threading.Thread(target=self._writer, name="store-writer", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite_utils.Database:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db = sqlite_utils.Database(conn)
        if self.path != ":memory:":
            db.enable_wal()
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return db

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.version
        for number, migration in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            with self.db.conn:
                migration(self.db)
                self.db.execute(f"PRAGMA user_version={number}")
            log.info("store %s: migrated to schema %d", self.path, number)

    def write_now(self, job: Job) -> None:
        """Run a write and commit it before returning (durable acknowledgements)."""
        with self.db.conn:
            job(self.db)

    def write_later(self, job: Job) -> None:
        """Queue a write for the group-committing writer thread."""
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(lambda db: done.set())
        done.wait(10)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
        if self._writer_db is not self.db:
            self._writer_db.conn.close()
        self.db.conn.close()

    def _writer(self) -> None:
        db = self._writer_db
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            try:  # group whatever arrives within the flush interval into one commit
                while len(jobs) < 10_000:
                    nxt = self._queue.get(timeout=self.FLUSH_INTERVAL if len(jobs) < 2 else 0.0)
                    if nxt is None:
                        stop = True
                        break
                    jobs.append(nxt)
            except queue.Empty:
                pass
            try:
                with db.conn:
                    for item in jobs:
                        item(db)
            except sqlite3.Error:
                log.exception("store writer: a batch of %d writes failed", len(jobs))
            if stop:
                return
