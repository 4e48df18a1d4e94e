"""The embedded store: one SQLite file through sqlite-utils, WAL mode.

Schema changes are numbered migrations.  Durable writes (accounts,
registrations) go through `write_now`, committed before the caller answers;
high-volume writes (history, away log) go through `write_later`, grouped and
committed by one writer thread at least every 100 ms, off the event loop;
after 10 ms when somebody waits for the batch (`hurry`: an echo-message
acknowledgement, ircpsyc.ircd.durable).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def _m3_accounts(db: sqlite_utils.Database) -> None:
    """Accounts (NickServ, SASL) and their TLS certificate fingerprints."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS accounts (
            folded TEXT PRIMARY KEY,          -- casefolded name: one account per name
            name TEXT NOT NULL,               -- as registered
            password_hash TEXT NOT NULL,      -- argon2id
            scram_salt TEXT NOT NULL,         -- base64
            scram_iterations INTEGER NOT NULL,
            scram_stored_key TEXT NOT NULL,   -- base64 H(HMAC(SaltedPassword, "Client Key"))
            scram_server_key TEXT NOT NULL,   -- base64 HMAC(SaltedPassword, "Server Key")
            email TEXT NOT NULL DEFAULT '',
            registered_at REAL NOT NULL,
            enforce INTEGER NOT NULL DEFAULT 1
        )
        """
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS account_certs (
            fingerprint TEXT PRIMARY KEY,     -- lower-case hex SHA-256 of the certificate
            account TEXT NOT NULL,            -- accounts.folded
            added_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS account_certs_by_account ON account_certs(account)")


def _m4_history_awaylog(db: sqlite_utils.Database) -> None:
    """History of channels and private conversations; the away log of accounts."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS history (
            id INTEGER PRIMARY KEY,           -- server-wide order of events
            target TEXT NOT NULL,             -- casefolded #channel, or ~partyA partyB
            msgid TEXT NOT NULL,
            time INTEGER NOT NULL,            -- ms since the epoch
            kind INTEGER NOT NULL,            -- 0 PRIVMSG/NOTICE, 1 TAGMSG, 2 other events
            method TEXT NOT NULL,             -- the PSYC method of the cast
            data TEXT NOT NULL                -- JSON {"v": variables, "b": body}
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS history_by_target ON history(target, id)")
    db.execute("CREATE INDEX IF NOT EXISTS history_by_msgid ON history(msgid)")
    db.execute("CREATE INDEX IF NOT EXISTS history_by_time ON history(time)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS history_dm (
            owner TEXT NOT NULL,              -- party key: a:account or n:nick
            target TEXT NOT NULL,             -- the conversation (history.target)
            peer_nick TEXT NOT NULL,          -- the correspondent's latest nick
            peer_fold TEXT NOT NULL,
            time INTEGER NOT NULL,            -- of the latest message
            PRIMARY KEY (owner, target)
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS history_dm_by_peer ON history_dm(owner, peer_fold)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS awaylog (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,            -- casefolded account name
            time INTEGER NOT NULL,            -- ms since the epoch
            channel TEXT NOT NULL,            -- where it was said; '' for private
            method TEXT NOT NULL,
            data TEXT NOT NULL,               -- JSON {"v": variables, "b": body}
            read INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS awaylog_by_account ON awaylog(account, id)")
    db.execute("CREATE INDEX IF NOT EXISTS awaylog_by_time ON awaylog(time)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS awaylog_watch (
            channel TEXT NOT NULL,            -- casefolded channel
            nick TEXT NOT NULL,               -- casefolded nick whose mentions are kept
            account TEXT NOT NULL,            -- for this absent account
            PRIMARY KEY (channel, nick)
        )
        """
    )


def _m5_chanserv(db: sqlite_utils.Database) -> None:
    """Registered channels (ChanServ): founder, options, saved state and access lists."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS chanserv_channels (
            folded TEXT PRIMARY KEY,          -- casefolded #name: one registration per channel
            name TEXT NOT NULL,               -- as registered
            founder TEXT NOT NULL,            -- the founder's account name
            registered_at REAL NOT NULL,
            topiclock INTEGER NOT NULL DEFAULT 0,
            founder_auto INTEGER NOT NULL DEFAULT 1,  -- the founder's automatic mode (AMODE)
            mlock TEXT NOT NULL DEFAULT '',   -- locked modes, e.g. "+nt-s" or "+ntk key"
            state TEXT NOT NULL DEFAULT '{}'  -- JSON: modes, +b/+e/+I lists, topic
        )
        """
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS chanserv_access (
            channel TEXT NOT NULL,            -- chanserv_channels.folded
            target TEXT NOT NULL,             -- casefolded account, or the mask of a ban entry
            name TEXT NOT NULL,               -- as given
            level INTEGER NOT NULL,           -- 1 admin, 2 op, 3 halfop, 4 voice, 9 ban
            auto INTEGER NOT NULL DEFAULT 1,  -- automatic mode on join
            reason TEXT NOT NULL DEFAULT '',  -- of a ban entry
            setter TEXT NOT NULL,
            added_at REAL NOT NULL,
            PRIMARY KEY (channel, target)
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS chanserv_access_by_target ON chanserv_access(target)")


def _m6_account_homes(db: sqlite_utils.Database) -> None:
    """The server an account belongs to in a network ('' = this one), see
    ircpsyc.services.account_sync."""
    db.execute("ALTER TABLE accounts ADD COLUMN home TEXT NOT NULL DEFAULT ''")


def _m7_network_server_bans(db: sqlite_utils.Database) -> None:
    """K/D-lines network-wide (ircpsyc.ircd.operator_service): where a ban was set and its version
    (last writer wins), and removals kept until the removed ban would have expired."""
    db.execute("ALTER TABLE server_bans ADD COLUMN origin TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE server_bans ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS server_ban_removals (
            kind TEXT NOT NULL,               -- K or D
            mask TEXT NOT NULL,
            stamp INTEGER NOT NULL,           -- version (microseconds), as server_bans.stamp
            origin TEXT NOT NULL,             -- the server where it was removed
            remover TEXT NOT NULL,
            until REAL NOT NULL,              -- kept until then (0: the ban was permanent)
            PRIMARY KEY (kind, mask)
        )
        """
    )


def _m8_account_tombstones(db: sqlite_utils.Database) -> None:
    """Accounts across a network (ircpsyc.services.account_sync): a version per account
    (the time of its latest change, newest wins), and tombstones of dropped accounts, kept
    for `[services] account_tombstone_days`, so a copy only deletes what was dropped."""
    db.execute("ALTER TABLE accounts ADD COLUMN updated_at REAL NOT NULL DEFAULT 0")
    db.execute("UPDATE accounts SET updated_at = registered_at")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS account_tombstones (
            folded TEXT PRIMARY KEY,          -- casefolded name of the dropped account
            name TEXT NOT NULL,
            registered_at REAL NOT NULL,      -- of the registration that was dropped
            dropped_at REAL NOT NULL,
            home TEXT NOT NULL DEFAULT ''     -- the server that dropped it ('' = this one)
        )
        """
    )


def _m9_account_multiclient(db: sqlite_utils.Database) -> None:
    """NickServ SET MULTICLIENT: whether an account's connections share its person."""
    db.execute("ALTER TABLE accounts ADD COLUMN multiclient INTEGER NOT NULL DEFAULT 1")


def _m10_always_on(db: sqlite_utils.Database) -> None:
    """Always-on persons (ircpsyc.services.always_on): each account's choice (NickServ
    SET ALWAYS-ON) and the persons online with no connection, restored at start."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS always_on_choices (
            account TEXT PRIMARY KEY,         -- casefolded account name
            always_on INTEGER NOT NULL        -- 1 ON, 0 OFF (absent: the policy's default)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS always_on_persons (
            account TEXT PRIMARY KEY,         -- casefolded account name: one person each
            nick TEXT NOT NULL,
            user TEXT NOT NULL,
            host TEXT NOT NULL,               -- as shown (a cloak under +x)
            realname TEXT NOT NULL,
            ip TEXT NOT NULL,
            away TEXT NOT NULL DEFAULT '',
            modes TEXT NOT NULL DEFAULT '',   -- user modes kept (never +o)
            channels TEXT NOT NULL DEFAULT '[]',  -- JSON list of channel names
            signon REAL NOT NULL,
            last_used REAL NOT NULL           -- when its last connection left
        )
        """
    )


def _m11_marks(db: sqlite_utils.Database) -> None:
    """Read markers (draft/read-marker) per account and target, and what each device
    of an account last saw (the replay of what it missed): ircpsyc.services.marks."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS read_markers (
            account TEXT NOT NULL,            -- casefolded account name
            target TEXT NOT NULL,             -- casefolded #channel or nick
            time INTEGER NOT NULL,            -- ms since the epoch; only ever grows
            PRIMARY KEY (account, target)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS device_seen (
            account TEXT NOT NULL,            -- casefolded account name
            device TEXT NOT NULL,             -- client id (account@device); '' = the person
            time INTEGER NOT NULL,            -- ms since the epoch: seen up to here
            PRIMARY KEY (account, device)
        )
        """
    )


def _m12_metadata(db: sqlite_utils.Database) -> None:
    """IRCv3 metadata of accounts (ircpsyc.ircd.metadata): kept across connections and
    restarts, and copied from the network's rosters."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS account_metadata (
            account TEXT NOT NULL,            -- casefolded account name
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (account, key)
        )
        """
    )


def _m13_history_without_time_index(db: sqlite_utils.Database) -> None:
    """The history's index on time went: every insert paid for it (about 1 us of a
    row's 7 in SQLite, benchmarks/README.md) and only the age sweep every few
    minutes used it; the sweep now walks the oldest rows by id instead."""
    db.execute("DROP INDEX IF EXISTS history_by_time")


def _m14_history_chunks(db: sqlite_utils.Database) -> None:
    """History rows become chunks: each writer batch stores one row per target
    holding all that target's entries of the batch (a JSON array).  A row per line
    cost SQLite an insert into the table and two indexes, several microseconds a
    line; a chunk pays that once for all its lines (benchmarks/README.md, session 6).
    `history` stays as a view with the old row's columns, one row per line, for
    operators' ad-hoc queries.  The old rows move over as chunks of one."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS history_chunks (
            id INTEGER PRIMARY KEY,           -- the seq of its first entry (or lower)
            target TEXT NOT NULL,             -- casefolded #channel, or ~partyA partyB
            last INTEGER NOT NULL,            -- the seq of its last entry
            oldest INTEGER NOT NULL,          -- the times (ms) of its entries: min, max
            newest INTEGER NOT NULL,
            count INTEGER NOT NULL,           -- entries in it
            entries TEXT NOT NULL             -- JSON [[seq, time, kind, method,
                                              --        {"v": variables, "b": body}], ...]
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS history_chunks_by_target ON history_chunks(target, id)")
    db.execute(
        "INSERT INTO history_chunks (id, target, last, oldest, newest, count, entries) "
        "SELECT id, target, id, time, time, 1, json_array(json_array(id, time, kind, method, "
        "json(data))) FROM history ORDER BY id"
    )
    db.execute("DROP TABLE history")
    db.execute(
        """
        CREATE VIEW history (id, target, msgid, time, kind, method, data) AS
        SELECT json_extract(e.value, '$[0]'), c.target, json_extract(e.value, '$[4].v._id'),
               json_extract(e.value, '$[1]'), json_extract(e.value, '$[2]'),
               json_extract(e.value, '$[3]'), json_extract(e.value, '$[4]')
        FROM history_chunks AS c, json_each(c.entries) AS e
        """
    )


MIGRATIONS: list[Migration] = [
    _m1_meta,
    _m2_server_bans,
    _m3_accounts,
    _m4_history_awaylog,
    _m5_chanserv,
    _m6_account_homes,
    _m7_network_server_bans,
    _m8_account_tombstones,
    _m9_account_multiclient,
    _m10_always_on,
    _m11_marks,
    _m12_metadata,
    _m13_history_without_time_index,
    _m14_history_chunks,
]

Job = Callable[[sqlite_utils.Database], None]


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """All or nothing: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class _Hurry:
    """Queued by `Store.hurry`: somebody waits for the batch being grouped."""


_HURRY = _Hurry()


WRITER_CACHE_KIB = 32_768  # the writer connection's page cache, at most
WAL_CHECKPOINT_PAGES = 4_000  # 16 MB of WAL between checkpoints (SQLite's default: 1,000)


class Store:
    """The SQLite store; open it once per process."""

    FLUSH_INTERVAL = 0.1
    # A batch somebody waits for (an echo: ircpsyc.ircd.durable) is committed this
    # long after its first write instead: still a group, much sooner.
    HURRY_INTERVAL = 0.01

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = self._connect()
        self.migrate()
        self._queue: queue.Queue[Job | threading.Event | _Hurry | None] = queue.Queue()
        self._writer_db = self._connect() if path != ":memory:" else self.db
        if path != ":memory:":
            # A history batch dirties a page of the (target, id) index per target: with
            # a bigger cache the writer reads them back less, and a longer WAL between
            # checkpoints copies a page rewritten by many commits once, not each time
            # (benchmarks/README.md, session 7: writer CPU per line -25%).
            self._writer_db.conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._writer_db.conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._lock = threading.Lock()  # serialises the shared connection of :memory:
        self._queued = 0  # write_later tickets handed out (event loop thread)
        self.committed = 0  # write_later jobs committed so far (or dropped), in order
        # Called in the writer thread after each commit (the server wakes its loop).
        self.on_commit: Callable[[], None] | None = None
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
            with transaction(self.db):
                migration(self.db)
                self.db.execute(f"PRAGMA user_version={number}")
        if current == 0:
            log.info("store %s: created (schema %d)", self.path, len(MIGRATIONS))
        elif current < len(MIGRATIONS):
            log.info("store %s: migrated from schema %d to %d", self.path, current, len(MIGRATIONS))

    def write_now(self, job: Job) -> None:
        """Run a write and commit it before returning (durable acknowledgements)."""
        with self._lock, transaction(self.db):
            job(self.db)

    def write_later(self, job: Job) -> int:
        """Queue a write for the group-committing writer thread.

        Returns a ticket: the job is committed (or was dropped after an error)
        once `committed` >= ticket.  Readers use it to merge what is still queued.
        """
        self._queued += 1
        self._queue.put(job)
        return self._queued

    def hurry(self) -> None:
        """Commit what is queued so far soon (HURRY_INTERVAL after the batch began)."""
        self._queue.put(_HURRY)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(60)
        if self._thread.is_alive():
            # Closing a connection the writer still uses would crash it; leave both open.
            log.error("store writer still busy after 60 s; not closing %s", self.path)
            return
        if self._writer_db is not self.db:
            self._writer_db.conn.close()
        self.db.conn.close()

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Hurry):
                continue  # nothing waits: what it hurried was committed already
            batch: list[Job | threading.Event] = [item]
            stop = False
            began = time.monotonic()
            deadline = began + self.FLUSH_INTERVAL
            try:  # group what arrives within 100 ms of the first write into one commit
                while len(batch) < 10_000:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    if nxt is None:
                        stop = True
                        break
                    if isinstance(nxt, _Hurry):
                        deadline = min(deadline, began + self.HURRY_INTERVAL)
                        continue
                    batch.append(nxt)
                    if isinstance(nxt, threading.Event):
                        break
            except queue.Empty:
                pass
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[Job | threading.Event]) -> None:
        jobs = [j for j in batch if not isinstance(j, threading.Event)]
        db = self._writer_db
        try:
            with self._lock, transaction(db):
                for job in jobs:
                    job(db)
        except Exception:
            # One bad job must not cost the others: retry them one by one.
            log.exception("store writer: batch of %d failed, retrying singly", len(jobs))
            for job in jobs:
                try:
                    with self._lock, transaction(db):
                        job(db)
                except Exception:
                    log.exception("store writer: dropping one failed write")
        self.committed += len(jobs)
        for job in jobs:
            # A job may let go of what it wrote here, on this thread (history.WriteBehind).
            after = getattr(job, "after_commit", None)
            if after is not None:
                try:
                    after()
                except Exception:  # the writer lives on, or every later write would wait
                    log.exception("store writer: after_commit failed")
        on_commit = self.on_commit
        if on_commit is not None and jobs:
            try:
                on_commit()
            except Exception:  # the loop is closing: nobody waits any more
                log.debug("store writer: commit notification failed", exc_info=True)
        for item in batch:
            if isinstance(item, threading.Event):
                item.set()
