"""The SQLite store: migrations, durable writes and the group-committing writer."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils

from ircpsyc import store as store_module
from ircpsyc.store import MIGRATIONS, Store


def _rows(path: Path, table: str = "meta") -> list[tuple[str, str]]:
    """Read with a separate connection: only committed data is visible."""
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(f"SELECT key, value FROM {table} ORDER BY key")]
    finally:
        conn.close()


def _insert(key: str, value: str = "v"):
    def job(db: sqlite_utils.Database) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    return job


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "dir" / "test.sqlite3"


def test_migrations_set_user_version_and_create_tables(db_path: Path) -> None:
    store = Store(str(db_path))
    try:
        assert db_path.exists()  # parent folders were created
        assert store.version == len(MIGRATIONS)
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"meta", "server_bans"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        conn.close()
    finally:
        store.close()


def test_migrations_run_from_an_older_version(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('kept', 'yes')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    store = Store(str(db_path))
    try:
        assert store.version == len(MIGRATIONS)
        assert "server_bans" in store.db.table_names()
    finally:
        store.close()
    assert _rows(db_path) == [("kept", "yes")]


def test_a_failed_migration_leaves_no_trace(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE half_done (x TEXT)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        Store(str(db_path))
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "half_done" not in tables, "a migration must be all or nothing"
    finally:
        conn.close()


def test_reopen_keeps_data_and_does_not_migrate_again(db_path: Path) -> None:
    store = Store(str(db_path))
    store.write_now(_insert("a", "1"))
    store.close()
    store = Store(str(db_path))
    try:
        assert store.version == len(MIGRATIONS)
        assert [tuple(r) for r in store.db.execute("SELECT key, value FROM meta")] == [("a", "1")]
    finally:
        store.close()


def test_write_now_is_committed_before_it_returns(db_path: Path) -> None:
    store = Store(str(db_path))
    try:
        store.write_now(_insert("account", "alice"))
        assert _rows(db_path) == [("account", "alice")]
    finally:
        store.close()


def test_write_now_rolls_back_a_failing_job(db_path: Path) -> None:
    store = Store(str(db_path))

    def half_done(db: sqlite_utils.Database) -> None:
        _insert("half")(db)
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError):
            store.write_now(half_done)
        assert _rows(db_path) == []
        store.write_now(_insert("after"))
        assert _rows(db_path) == [("after", "v")]
    finally:
        store.close()


def test_write_later_is_committed_within_about_100_ms(db_path: Path) -> None:
    store = Store(str(db_path))
    try:
        start = time.monotonic()
        store.write_later(_insert("later"))
        while not _rows(db_path):
            assert time.monotonic() - start < 2.0, "write_later never committed"
            time.sleep(0.005)
        elapsed = time.monotonic() - start
        assert elapsed < 0.35, f"committed after {elapsed:.3f}s"
    finally:
        store.close()


def test_write_later_commits_during_a_steady_stream(db_path: Path) -> None:
    store = Store(str(db_path))
    try:
        start = time.monotonic()
        first_seen = None
        i = 0
        while time.monotonic() - start < 0.6:
            store.write_later(_insert(f"k{i:05d}"))
            i += 1
            if first_seen is None and _rows(db_path):
                first_seen = time.monotonic() - start
            time.sleep(0.002)
        assert first_seen is not None and first_seen < 0.35
    finally:
        store.close()


def test_close_flushes_queued_writes(db_path: Path) -> None:
    store = Store(str(db_path))
    for i in range(500):
        store.write_later(_insert(f"k{i:03d}"))
    store.close()
    assert len(_rows(db_path)) == 500
    store = Store(str(db_path))
    try:
        assert store.db.execute("SELECT count(*) FROM meta").fetchone()[0] == 500
    finally:
        store.close()


def test_flush_returns_only_after_the_commit(db_path: Path) -> None:
    store = Store(str(db_path))
    go, release = threading.Event(), threading.Event()
    running = threading.Event()
    seen_after_flush: list[list[tuple[str, str]]] = []

    def hold(db: sqlite_utils.Database) -> None:
        running.set()
        go.wait(5)

    def slow(db: sqlite_utils.Database) -> None:
        release.wait(5)
        _insert("slow")(db)

    def flusher() -> None:
        store.flush()
        seen_after_flush.append(_rows(db_path))
        release.set()

    try:
        store.write_later(hold)
        assert running.wait(5)
        # While the writer is busy: A, then flush()'s marker, then a slow job B.
        store.write_later(_insert("a"))
        thread = threading.Thread(target=flusher)
        thread.start()
        deadline = time.monotonic() + 5
        while store._queue.qsize() < 2:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        store.write_later(slow)
        go.set()
        thread.join(10)
        release.set()
        assert seen_after_flush, "flush() did not return"
        assert ("a", "v") in seen_after_flush[0], "flush() returned before 'a' was committed"
    finally:
        go.set()
        release.set()
        store.close()


def test_a_failing_later_job_does_not_stop_the_writer(db_path: Path) -> None:
    store = Store(str(db_path))

    def broken(db: sqlite_utils.Database) -> None:
        raise ValueError("a bug in one job")

    store.write_later(broken)
    time.sleep(0.3)  # let that batch run on its own
    store.write_later(_insert("after"))
    store.close()
    assert _rows(db_path) == [("after", "v")]


def test_memory_store() -> None:
    store = Store(":memory:")
    try:
        assert store.version == len(MIGRATIONS)
        store.write_now(_insert("x", "1"))
        store.write_later(_insert("y", "2"))
        store.flush()
        rows = [tuple(r) for r in store.db.execute("SELECT key, value FROM meta ORDER BY key")]
        assert rows == [("x", "1"), ("y", "2")]
    finally:
        store.close()


def test_a_new_store_logs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ircpsyc.store")
    Store(str(tmp_path / "new.sqlite3")).close()
    lines = [r.getMessage() for r in caplog.records if r.name == "ircpsyc.store"]
    assert len(lines) == 1 and "created (schema" in lines[0], lines
    caplog.clear()
    Store(str(tmp_path / "new.sqlite3")).close()  # up to date: nothing to say
    assert [r for r in caplog.records if r.name == "ircpsyc.store"] == []


def test_the_writer_checkpoints_the_wal_only_after_its_own_threshold(db_path: Path) -> None:
    """The writer lets the WAL grow past SQLite's default of 1,000 pages before copying
    it into the database: a page that many commits rewrote is copied once."""
    store = Store(str(db_path))
    try:
        page = 4096
        blob = "x" * 1000
        for commit in range(15):  # about 1,500 pages, in commits of 100

            def job(db: sqlite_utils.Database, commit: int = commit) -> None:
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES "
                    + ", ".join(["(?, ?)"] * 400),
                    [v for i in range(400) for v in (f"k{commit}-{i}", blob)],
                )

            store.write_later(job)
            store.flush()  # a commit each
        wal = Path(f"{db_path}-wal").stat().st_size
        assert 1_200 * page < wal < store_module.WAL_CHECKPOINT_PAGES * (page + 24)
        cache = store._writer_db.execute("PRAGMA cache_size").fetchone()[0]
        assert cache == -store_module.WRITER_CACHE_KIB
    finally:
        store.close()


def test_a_failing_after_commit_does_not_stop_the_writer(db_path: Path) -> None:
    store = Store(str(db_path))

    class Job:
        def __call__(self, db: sqlite_utils.Database) -> None:
            _insert("first")(db)

        def after_commit(self) -> None:
            raise RuntimeError("a bug in what lets go of the written")

    try:
        store.write_later(Job())
        assert store.flush()
        store.write_later(_insert("second"))
        assert store.flush()
        assert [k for k, _ in _rows(db_path)] == ["first", "second"]
    finally:
        store.close()
