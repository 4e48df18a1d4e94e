"""Run the benchmark scenarios against one or more IRC servers and compare them.

    python -m benchmarks.run --server ircpsyc
    python -m benchmarks.run --server ircpsyc --server ngircd --server inspircd
    python -m benchmarks.run --server external=127.0.0.1:6667 --scenario fanout --quick
    python -m benchmarks.run --server ircpsyc --server ircpsyc-defaults \
        --scenario fanout-paced --scenario channels-paced --scenario privmsg-paced --repeat 3

Every (server, scenario) pair gets a freshly started server, so one scenario's
leftovers never weigh on the next; the servers take turns within each scenario
and repeat, so a change in the machine's other load falls on all of them.
Results go to benchmarks/results/latest.json and a summary table is printed.
When both ``ircpsyc`` and ``ircpsyc-defaults`` ran a scenario, a further table
compares their server CPU per line (medians over the repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import secrets
import shlex
import signal
import statistics
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import servers
from benchmarks.loadgen import abort_all, raise_nofile_limit, run_async
from benchmarks.scenarios import ON_REQUEST, SCENARIOS, Context, ScenarioError, make_params
from benchmarks.servers import REPO, ServerError, ServerSpec, parse_server

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS_DIR / "latest.json"
LOG_TAIL_LINES = 25
# Flood control as shipped may cost at most this much more server CPU per line
# than flood control off (issue 16).
DEFAULTS_ALLOWANCE = 1.10


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="IRC server load benchmark (loopback only).",
    )
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="SERVER",
        help="ircpsyc, ircpsyc-defaults (ircpsyc with flood control as shipped), "
        "ircpsyc-xN (N linked processes), ngircd, inspircd, or "
        "external=HOST:PORT (a loopback address); "
        "repeat to compare. Default: ircpsyc",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=list(SCENARIOS),
        help="scenario to run; repeat for several. Default: all but "
        + ", ".join(sorted(ON_REQUEST)),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SCENARIO.PARAM=VALUE",
        help="override a scenario parameter, e.g. --set fanout.members=500",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the JSON results (default {DEFAULT_OUTPUT.relative_to(REPO)})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each scenario N times and report the run least disturbed by other "
        "processes (all runs are kept in the JSON)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    parser.add_argument(
        "--code",
        metavar="DIR",
        help="run the started ircpsyc servers from the checkout DIR (e.g. a `git archive` "
        "of the commit before a change) instead of this one",
    )
    parser.add_argument(
        "--keep-workdirs",
        action="store_true",
        help="keep each started server's temporary directory (config, logs)",
    )
    return parser.parse_args(argv)


def _overrides(items: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        scenario, dot, param = key.partition(".")
        if not sep or not dot or scenario not in SCENARIOS:
            raise SystemExit(f"--set {item!r}: expected SCENARIO.PARAM=VALUE")
        out.setdefault(scenario, {})[param] = value
    return out


def _machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
    }


async def _run_one(
    spec: ServerSpec, name: str, params: Any, keep: bool, console: Console
) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    entry: dict[str, Any] = {"params": dataclasses.asdict(params), "result": None}
    try:
        server = await asyncio.to_thread(spec.start)
    except (ServerError, OSError) as exc:
        entry["error"] = f"server did not start: {exc}"
        return entry
    tag = "" if spec.managed else secrets.token_hex(2)
    ctx = Context(server, tag=tag)
    try:
        entry["result"] = await asyncio.wait_for(scenario.run(ctx, params), params.time_limit)
    except TimeoutError:
        entry["error"] = f"time limit of {params.time_limit:g}s reached"
    except ScenarioError as exc:
        entry["error"] = str(exc)
    except Exception as exc:
        entry["error"] = f"{exc.__class__.__name__}: {exc}"
        entry["traceback"] = traceback.format_exc()
    problems = ctx.sink.problems()
    entry["problems"] = problems
    entry["server_alive_after"] = server.alive()
    if not server.alive():
        entry["server_exit_status"] = server.exit_status()
    # Stop the server before dropping the clients: a server busy sending QUIT
    # lines to a thousand channel members is not what we measure.
    for conn in ctx.conns:
        conn.closing = True
    if spec.managed:
        await asyncio.to_thread(server.stop, True)
    abort_all(ctx.conns)
    await asyncio.sleep(0.2 if spec.managed else 3.0)
    troubled = (
        entry.get("error")
        or problems["disconnects"]
        or problems["error_replies"]
        or not entry["server_alive_after"]
        or (entry["result"] or {}).get("lost")
    )
    if spec.managed:
        if troubled:
            entry["server_log_tail"] = server.log_tail(LOG_TAIL_LINES)
        if keep:
            entry["workdir"] = str(server.workdir)
        else:
            server.cleanup()
    if troubled:
        console.print(f"[yellow]  {spec.label}/{name}: {_problem_text(entry)}[/]")
    return entry


def _problem_text(entry: dict[str, Any]) -> str:
    bits = []
    if entry.get("error"):
        bits.append(str(entry["error"]).splitlines()[0])
    problems = entry.get("problems") or {}
    if problems.get("disconnects"):
        bits.append(f"{problems['disconnects']} disconnects")
    if problems.get("error_replies"):
        replies = ", ".join(f"{k} x{v}" for k, v in sorted(problems["error_replies"].items()))
        bits.append(f"error replies {replies}")
    result = entry.get("result") or {}
    if result.get("lost"):
        bits.append(f"{result['lost']} lost")
    if result.get("stalled"):
        bits.append("stalled")
    if entry.get("server_alive_after") is False:
        bits.append(f"server died (status {entry.get('server_exit_status')})")
    return "; ".join(bits)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def _rows(results: dict[str, Any], name: str) -> tuple[list[str], list[list[str]]]:
    headline = SCENARIOS[name].headline
    header = ["server", *(label for _, label in headline), "other load", "notes"]
    rows = []
    for label, server in results["servers"].items():
        entry = server["scenarios"].get(name)
        if entry is None:
            continue
        result = entry.get("result") or {}
        rows.append(
            [
                label,
                *(_fmt(result.get(key)) for key, _ in headline),
                _fmt(result.get("other_cpu_share")),
                _problem_text(entry),
            ]
        )
    return header, rows


def print_tables(results: dict[str, Any], console: Console) -> None:
    for name, scenario in SCENARIOS.items():
        header, rows = _rows(results, name)
        if not rows:
            continue
        table = Table(title=f"{name}: {scenario.description}", title_justify="left")
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i in (0, len(header) - 1) else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def markdown_tables(results: dict[str, Any]) -> str:
    out = []
    for name, scenario in SCENARIOS.items():
        header, rows = _rows(results, name)
        if not rows:
            continue
        out.append(f"**{name}**: {scenario.description}\n")
        out.append("| " + " | ".join(header) + " |")
        out.append(
            "|"
            + "|".join("---" if i in (0, len(header) - 1) else "---:" for i in range(len(header)))
            + "|"
        )
        out.extend("| " + " | ".join(row) + " |" for row in rows)
        out.append("")
    return "\n".join(out)


async def _main(args: argparse.Namespace, results: dict[str, Any], console: Console) -> None:
    specs = [parse_server(s) for s in (args.server or ["ircpsyc"])]
    names = args.scenario or [n for n in SCENARIOS if n not in ON_REQUEST]
    overrides = _overrides(args.set)
    params = {n: make_params(n, args.quick, overrides.get(n, {})) for n in names}
    results["params"] = {n: dataclasses.asdict(p) for n, p in params.items()}
    for spec in specs:
        version = await asyncio.to_thread(spec.version)
        results["servers"][spec.label] = {"version": version, "scenarios": {}}
    repeat = max(1, args.repeat)
    for name in names:
        runs: dict[str, list[dict[str, Any]]] = {spec.label: [] for spec in specs}
        for i in range(repeat):
            run_no = f" (run {i + 1}/{repeat})" if repeat > 1 else ""
            for spec in specs:  # the servers take turns: each sees the same machine
                console.print(f"[bold]{spec.label}[/]: {name}{run_no} …")
                entry = await _run_one(spec, name, params[name], args.keep_workdirs, console)
                runs[spec.label].append(entry)
                server = results["servers"][spec.label]
                server["scenarios"][name] = _least_disturbed(runs[spec.label])
                _write(results, args.output)  # keep what we have if a later step dies


def _contention(entry: dict[str, Any]) -> float:
    if entry.get("error") or not entry.get("result"):
        return float("inf")
    share = entry["result"].get("other_cpu_share")
    return float(share) if share is not None else 0.0


def _least_disturbed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run during which other processes used the least CPU, with all runs attached."""
    chosen: dict[str, Any] = min(runs, key=_contention)
    best = dict(chosen)
    if len(runs) > 1:
        best["runs"] = [dict(r) for r in runs]
    return best


def _cpu_per_line(entry: dict[str, Any]) -> list[float]:
    """Server CPU µs per delivered line of each successful run of a scenario entry."""
    out = []
    for run in entry.get("runs") or [entry]:
        value = (run.get("result") or {}).get("server_cpu_us_per_delivery")
        if not run.get("error") and isinstance(value, int | float):
            out.append(float(value))
    return out


def _max_latency(entry: dict[str, Any]) -> float | None:
    values = [
        float(latency["max"])
        for run in entry.get("runs") or [entry]
        if isinstance(latency := (run.get("result") or {}).get("latency"), dict)
        and "max" in latency
    ]
    return max(values) if values else None


def defaults_comparison(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per scenario that both ``ircpsyc`` and ``ircpsyc-defaults`` ran: the median
    server CPU per line of each, their ratio, and whether flood control as shipped
    stays within DEFAULTS_ALLOWANCE of flood control off."""
    servers = results.get("servers", {})
    off, on = servers.get("ircpsyc"), servers.get("ircpsyc-defaults")
    if not off or not on:
        return []
    rows = []
    for name in SCENARIOS:
        if name not in off["scenarios"] or name not in on["scenarios"]:
            continue
        off_runs = _cpu_per_line(off["scenarios"][name])
        on_runs = _cpu_per_line(on["scenarios"][name])
        if not off_runs or not on_runs:
            continue
        off_median, on_median = statistics.median(off_runs), statistics.median(on_runs)
        ratio = on_median / off_median if off_median > 0 else None
        rows.append(
            {
                "scenario": name,
                "off_us": round(off_median, 3),
                "defaults_us": round(on_median, 3),
                "off_runs": off_runs,
                "defaults_runs": on_runs,
                "ratio": None if ratio is None else round(ratio, 3),
                "within_allowance": ratio is not None and ratio <= DEFAULTS_ALLOWANCE,
                "defaults_max_latency_ms": _max_latency(on["scenarios"][name]),
            }
        )
    return rows


_COMPARISON_HEADER = [
    "scenario",
    "flood control off, µs/line (runs)",
    "defaults, µs/line (runs)",
    "defaults / off",
    f"≤ +{round((DEFAULTS_ALLOWANCE - 1) * 100)}%",
    "max latency ms, defaults",
]


def _comparison_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    def runs(values: list[float]) -> str:
        return " · ".join(_fmt(v) for v in values)

    return [
        [
            r["scenario"],
            f"{_fmt(r['off_us'])} ({runs(r['off_runs'])})",
            f"{_fmt(r['defaults_us'])} ({runs(r['defaults_runs'])})",
            _fmt(r["ratio"]),
            _fmt(r["within_allowance"]),
            _fmt(r["defaults_max_latency_ms"]),
        ]
        for r in rows
    ]


def print_comparison(rows: list[dict[str, Any]], console: Console, markdown: bool) -> None:
    if not rows:
        return
    title = "ircpsyc with flood control as shipped vs off: server CPU per line (median)"
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(_COMPARISON_HEADER):
        table.add_column(col, justify="left" if i == 0 else "right")
    body = _comparison_rows(rows)
    for row in body:
        table.add_row(*row)
    console.print(table)
    if markdown:
        lines = [
            f"**defaults vs flood control off**: {title}\n",
            "| " + " | ".join(_COMPARISON_HEADER) + " |",
            "|---" + "|---:" * (len(_COMPARISON_HEADER) - 1) + "|",
            *("| " + " | ".join(row) + " |" for row in body),
        ]
        console.print("\n".join(lines), markup=False, highlight=False)


def _write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like ^C, so started servers get stopped


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.code:
        code = Path(args.code).resolve()
        if not (code / "ircpsyc" / "__init__.py").exists():
            print(f"--code {args.code}: no ircpsyc package there", file=sys.stderr)
            return 2
        servers.CODE = code
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Wide enough for the tables when the output goes to a file or a pipe.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    soft, hard = raise_nofile_limit()
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": shlex.join(
                [Path(sys.executable).name, "-m", "benchmarks.run", *sys.argv[1:]]
            ),
            "machine": _machine(),
            "nofile_limit": [soft, hard],
            "quick": args.quick,
            "code": str(servers.CODE),  # the checkout the ircpsyc servers ran
        },
        "servers": {},
    }
    try:
        _, loop_name = run_async(lambda: _main(args, results, console))
    except KeyboardInterrupt:
        console.print("[red]interrupted; partial results kept[/]")
        loop_name = "?"
    except ValueError as exc:  # a bad --server or --set value
        console.print(f"[red]{exc}[/]")
        return 2
    results["meta"]["event_loop"] = loop_name
    comparison = defaults_comparison(results)
    if comparison:
        results["defaults_vs_off"] = comparison
    _write(results, args.output)
    print_tables(results, console)
    if args.markdown:
        console.print(markdown_tables(results), markup=False, highlight=False)
    print_comparison(comparison, console, args.markdown)
    console.print(f"results written to {args.output}")
    failed = any(
        entry.get("error")
        for server in results["servers"].values()
        for entry in server["scenarios"].values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
