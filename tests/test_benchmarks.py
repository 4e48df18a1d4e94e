"""The benchmark harness's own parts: the ircpsyc configs it generates, the paced
and crowd scenarios, the defaults-vs-off comparison, and one tiny crowd run
against a real server process (a few seconds; the real sizes stay in benchmarks/)."""

from __future__ import annotations

import itertools
import json
import signal
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.scenarios import PACED_INTERVAL, SCENARIOS, crowd_schedule, make_params
from benchmarks.servers import REPO, ServerSpec, ircpsyc_config, parse_server
from ircpsyc import config as cfg


def _load(tmp_path: Path, *, defaults: bool) -> cfg.Config:
    path = tmp_path / "ircpsyc.toml"
    path.write_text(ircpsyc_config(tmp_path, 6667, 8080, defaults=defaults))
    return cfg.load(str(path))


def test_defaults_config_keeps_shipped_flood_control_and_history(tmp_path: Path) -> None:
    shipped = cfg.LimitsSection()
    off = _load(tmp_path, defaults=False)
    on = _load(tmp_path, defaults=True)
    assert off.limits.flood_rate == 0.0
    assert on.limits.flood_rate == shipped.flood_rate > 0
    assert on.limits.flood_burst == shipped.flood_burst
    assert on.history.enabled and off.history.enabled
    # Otherwise the two are the same server: the comparison isolates flood control.
    assert on.limits.max_per_ip == off.limits.max_per_ip
    assert on.limits.sendq_bytes == off.limits.sendq_bytes


def test_server_kinds() -> None:
    assert parse_server("ircpsyc-defaults") == ServerSpec("ircpsyc", defaults=True)
    assert parse_server("ircpsyc-defaults").label == "ircpsyc-defaults"
    assert parse_server("ircpsyc-defaults").managed
    with pytest.raises(ValueError):
        parse_server("ircpsyc-fast")


@pytest.mark.parametrize("name", ["fanout-paced", "channels-paced", "privmsg-paced"])
def test_paced_scenarios_stay_below_shipped_flood_control(name: str) -> None:
    """One line per client per interval, never faster than the bucket refills."""
    for quick in (False, True):
        params = make_params(name, quick, {})
        assert params.interval >= 1.0 / cfg.LimitsSection().flood_rate
    assert make_params(name, False, {}).interval == PACED_INTERVAL
    # The saturating scenario it paces is unchanged.
    assert make_params(name.removesuffix("-paced"), False, {}).interval == 0.0


def test_crowd_schedule() -> None:
    schedule = crowd_schedule(clients=50, period=10.0, duration=35.0, seed=3)
    assert schedule == sorted(schedule)
    assert schedule == crowd_schedule(clients=50, period=10.0, duration=35.0, seed=3)
    by_client: dict[int, list[float]] = {}
    for offset, i in schedule:
        assert 0.0 <= offset < 35.0
        by_client.setdefault(i, []).append(offset)
    assert sorted(by_client) == list(range(50))
    for times in by_client.values():
        assert times[0] < 10.0
        assert all(b - a == pytest.approx(10.0) for a, b in itertools.pairwise(times))
        assert len(times) in (3, 4)  # 35 s at one line per 10 s
    defaults = make_params("crowd", False, {})
    assert (defaults.clients, defaults.channels, defaults.period) == (10000, 2000, 10.0)


def _entry(*cpu: float, max_ms: float = 5.0) -> dict[str, object]:
    runs = [{"result": {"server_cpu_us_per_delivery": c, "latency": {"max": max_ms}}} for c in cpu]
    return {**runs[0], "runs": runs}


def test_defaults_comparison_takes_medians() -> None:
    results = {
        "servers": {
            "ircpsyc": {"scenarios": {"channels-paced": _entry(10.0, 30.0, 11.0)}},
            "ircpsyc-defaults": {
                "scenarios": {"channels-paced": _entry(12.5, 11.5, 9.0, max_ms=40.0)}
            },
        }
    }
    (row,) = run.defaults_comparison(results)
    assert row["scenario"] == "channels-paced"
    assert (row["off_us"], row["defaults_us"]) == (11.0, 11.5)
    assert row["within_allowance"] and row["defaults_max_latency_ms"] == 40.0
    results["servers"]["ircpsyc-defaults"]["scenarios"]["channels-paced"] = _entry(13.0)
    (row,) = run.defaults_comparison(results)
    assert row["ratio"] == pytest.approx(13.0 / 11.0, abs=1e-3) and not row["within_allowance"]
    del results["servers"]["ircpsyc"]
    assert run.defaults_comparison(results) == []


def test_tiny_crowd_against_the_real_server(tmp_path: Path) -> None:
    """20 clients in 4 channels, one line each per 0.5 s for 2 s, flood control as shipped:
    every line reaches the other members of its channel, and the figures are filled in."""
    out = tmp_path / "crowd.json"
    sigterm = signal.getsignal(signal.SIGTERM)  # run.main sets its own
    try:
        status = run.main(
            [
                "--server",
                "ircpsyc-defaults",
                "--scenario",
                "crowd",
                "--output",
                str(out),
                *("--code", str(REPO)),
                *("--set", "crowd.clients=20", "--set", "crowd.channels=4"),
                *("--set", "crowd.period=0.5", "--set", "crowd.duration=2"),
                *("--set", "crowd.concurrency=20", "--set", "crowd.stall_timeout=5"),
            ]
        )
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert status == 0
    results = json.loads(out.read_text())
    assert results["meta"]["code"] == str(REPO)
    entry = results["servers"]["ircpsyc-defaults"]["scenarios"]["crowd"]
    result = entry["result"]
    assert entry["problems"]["disconnects"] == 0 and not entry["problems"]["error_replies"]
    assert (result["clients"], result["channels"]) == (20, 4)
    assert result["messages_sent"] == 80  # 4 lines from each client
    assert result["delivered"] == result["deliveries_expected"] == 80 * 4
    assert result["lost"] == 0 and not result["stalled"]
    assert result["latency"]["count"] == 320
    assert result["server_cpu_s"] is not None and result["rss_mib"] > 0
    assert 0 <= result["server_sys_s"] <= result["server_cpu_s"]
    assert "crowd" in SCENARIOS


def test_code_must_hold_an_ircpsyc_package(tmp_path: Path) -> None:
    assert run.main(["--code", str(tmp_path), "--scenario", "connect", "--quick"]) == 2
