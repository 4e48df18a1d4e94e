"""Run irctest against ircpsyc (or a reference server) and report a score.

Usage (from the repository root)::

    python -m conformance.run [--server ircpsyc|ngircd|inspircd] [-k EXPR]
                              [--jobs N] [--timeout SECONDS] [--markers EXPR]
                              [--junit-xml PATH] [extra pytest args...]

irctest is looked up in ``$IRCTEST_DIR`` (default ``/work/irctest``) and run with
``$IRCTEST_PYTHON`` (default: irctest's own ``.venv/bin/python`` if present, else
this interpreter).  Only server tests count: irctest's self-tests are ignored.

Default selection (``--markers``): ``not implementation-specific and not
deprecated``.  ngIRCd and InspIRCd are run without a services package, so
``and not services`` is added for them; ircpsyc's controller instead skips the
services tests itself (they show up as skipped) unless ``--services`` is given.

The last line printed is ``N passed, N failed, N skipped``, counted from the
JUnit XML report (errors count as failed, xfails as skipped).  The exit status
is 0 whenever irctest ran, whatever the results; it is non-zero only when
irctest could not run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

CONFORMANCE_DIR = Path(__file__).resolve().parent
REPO = CONFORMANCE_DIR.parent

DEFAULT_IRCTEST_DIR = "/work/irctest"
DEFAULT_MARKERS = "not implementation-specific and not deprecated"
DEFAULT_JOBS = 2
DEFAULT_TIMEOUT = 60

CONTROLLERS = {
    "ircpsyc": "ircpsyc_controller",
    "ngircd": "irctest.controllers.ngircd",
    "inspircd": "irctest.controllers.inspircd",
}
# Servers run without any services package: their services tests cannot run.
NO_SERVICES = {"ngircd", "inspircd"}
# pytest plugin (in conformance/) that keeps irctest on loopback, see irctest_local.py.
PLUGIN = "irctest_local"

# pytest exit codes meaning "the tests ran": OK, some failed, none selected.
RAN_EXIT_CODES = {0, 1, 5}


@dataclass
class Score:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def _outcomes(path: Path) -> dict[tuple[str, str], tuple[str, ET.Element | None]]:
    """One outcome per test: ``passed``, ``failed`` or ``skipped``, plus the
    ``<failure>``/``<error>`` or ``<skipped>`` element explaining it.

    pytest writes a second ``<testcase>`` for the same test when its teardown
    errors after the test failed; errors (set-up or teardown) count as failures.
    """
    outcomes: dict[tuple[str, str], tuple[str, ET.Element | None]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        bad = next((c for c in case if c.tag in ("failure", "error")), None)
        if bad is not None:
            outcome = "failed"
        elif (skip := next((c for c in case if c.tag == "skipped"), None)) is not None:
            outcome, bad = "skipped", skip
        else:
            outcome = "passed"
        previous = outcomes.get(key)
        if previous is None or previous[0] != "failed":
            outcomes[key] = (outcome, bad)
    return outcomes


def count_junit(path: Path) -> Score:
    """Count test outcomes in a pytest JUnit XML report."""
    score = Score()
    for outcome, _ in _outcomes(path).values():
        setattr(score, outcome, getattr(score, outcome) + 1)
    return score


def _failure_reason(element: ET.Element, limit: int = 600) -> str:
    """A one-line summary of a failure: its message plus pytest's ``E`` lines."""
    parts: list[str] = []
    message = (element.get("message") or "").strip().splitlines()
    if message and message[0] != "AssertionError: None":
        parts.append(message[0])
    for line in (element.text or "").splitlines():
        if not line.startswith("E "):
            continue
        text = line[1:].strip()
        if text and text not in parts and text != "AssertionError: None":
            parts.append(text)
    summary = " | ".join(parts)
    return summary if len(summary) <= limit else summary[: limit - 3] + "..."


def failures_by_area(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Failed/errored tests from a JUnit report, grouped by irctest module.

    Keys are areas like ``chmodes.operator``; values are ``(Class::test, reason)``.
    """
    areas: dict[str, list[tuple[str, str]]] = {}
    for (classname, name), (outcome, bad) in _outcomes(path).items():
        if outcome != "failed" or bad is None:
            continue
        module, _, cls = classname.rpartition(".")
        area = module.removeprefix("irctest.server_tests.") or "?"
        reason = _failure_reason(bad)
        if bad.tag == "error":
            reason = f"[error] {reason}"
        areas.setdefault(area, []).append((f"{cls}::{name}", reason))
    return dict(sorted(areas.items()))


def skip_reasons(path: Path) -> list[tuple[int, str]]:
    """Why tests were skipped: ``(count, reason)``, most frequent first."""
    counts: dict[str, int] = {}
    for outcome, element in _outcomes(path).values():
        if outcome == "skipped" and element is not None:
            reason = (element.get("message") or element.text or "?").strip().splitlines()[0]
            counts[reason[:160]] = counts.get(reason[:160], 0) + 1
    return sorted(((n, r) for r, n in counts.items()), key=lambda item: (-item[0], item[1]))


def write_failures(junit: Path, out: Path, server: str, score: Score) -> None:
    areas = failures_by_area(junit)
    lines = [f"irctest failures for {server}: {score}", f"(from {junit})", ""]
    for area, tests in areas.items():
        lines.append(f"## {area} ({len(tests)})")
        lines += [f"  {name}\n      {reason}" if reason else f"  {name}" for name, reason in tests]
        lines.append("")
    lines.append("## skipped, by reason")
    lines += [f"  {count:4d}  {reason}" for count, reason in skip_reasons(junit)]
    lines.append("")
    out.write_text("\n".join(lines))


def irctest_python(irctest_dir: Path) -> str:
    override = os.environ.get("IRCTEST_PYTHON")
    if override:
        return override
    venv_python = irctest_dir / ".venv" / "bin" / "python"
    if venv_python.exists():
        return str(venv_python)
    return sys.executable


def inspircd_shim(directory: Path) -> Path | None:
    """A directory holding an ``inspircd`` wrapper adding ``--runasroot`` (for root)."""
    if os.geteuid() != 0:
        return None
    real = shutil.which("inspircd") or "/usr/sbin/inspircd"
    shim_dir = directory / "bin"
    shim_dir.mkdir(parents=True, exist_ok=True)
    shim = shim_dir / "inspircd"
    shim.write_text(
        "#!/bin/sh\n"
        "# Debian's InspIRCd refuses to start as root without --runasroot.\n"
        'case " $* " in *" --version "*) exec ' + real + ' "$@";; esac\n'
        "exec " + real + ' --runasroot "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return shim_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.run",
        description="Run irctest's server tests and print 'N passed, N failed, N skipped'.",
        epilog="Arguments not listed here are passed on to pytest.",
    )
    parser.add_argument("--server", choices=sorted(CONTROLLERS), default="ircpsyc")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k expression")
    parser.add_argument(
        "--jobs", "-j", type=int, default=DEFAULT_JOBS, help="pytest-xdist workers (0: none)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="per-test timeout in seconds"
    )
    parser.add_argument(
        "--markers",
        metavar="EXPR",
        help=f"pytest -m expression (default: {DEFAULT_MARKERS!r}, "
        "plus 'and not services' for servers run without services)",
    )
    parser.add_argument(
        "--junit-xml",
        type=Path,
        metavar="PATH",
        help="where to write the JUnit report (default: TMPDIR/ircpsyc-conformance/SERVER.xml)",
    )
    parser.add_argument(
        "--no-services",
        dest="services",
        action="store_false",
        help="ircpsyc only: skip the services tests (they run by default)",
    )
    parser.add_argument("--services", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--failures",
        type=Path,
        metavar="PATH",
        help="also write the failed tests, grouped by irctest module, to PATH",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)

    irctest_dir = Path(os.environ.get("IRCTEST_DIR", DEFAULT_IRCTEST_DIR)).resolve()
    if not (irctest_dir / "irctest" / "server_tests").is_dir():
        print(f"error: no irctest checkout in {irctest_dir} (set IRCTEST_DIR)", file=sys.stderr)
        return 2
    python = irctest_python(irctest_dir)

    markers = args.markers
    if markers is None:
        markers = DEFAULT_MARKERS
        if args.server in NO_SERVICES:
            markers = f"not services and ({markers})"

    out_dir = Path(tempfile.gettempdir()) / "ircpsyc-conformance"
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = (args.junit_xml or out_dir / f"{args.server}.xml").resolve()
    junit.parent.mkdir(parents=True, exist_ok=True)
    tmp_junit = junit.with_name(junit.name + ".tmp")

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(CONFORMANCE_DIR), env.get("PYTHONPATH", "")) if p
    )
    if args.server == "inspircd":
        shim_dir = inspircd_shim(out_dir)
        if shim_dir is not None:
            env["PATH"] = os.pathsep.join([str(shim_dir), env.get("PATH", "")])
    if args.server == "ircpsyc":
        binary = os.environ.get("IRCPSYC_BIN") or str(REPO / ".venv" / "bin" / "ircpsyc")
        if not os.access(binary, os.X_OK):
            print(f"error: ircpsyc executable not found: {binary}", file=sys.stderr)
            return 2
        env.setdefault("IRCPSYC_BIN", binary)
        env["IRCPSYC_SERVICES"] = "1" if args.services else "0"

    command = [
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        PLUGIN,
        "--controller",
        CONTROLLERS[args.server],
        "-m",
        markers,
        "--ignore=irctest/self_tests",
        f"--timeout={args.timeout:g}",
        f"--junit-xml={tmp_junit}",
        "-q",
        "-W",
        "ignore::DeprecationWarning",
    ]
    if args.jobs > 0:
        command += ["-n", str(args.jobs)]
    if args.keyword:
        command += ["-k", args.keyword]
    command += extra

    print("+ " + " ".join(command), flush=True)
    tmp_junit.unlink(missing_ok=True)
    try:
        result = subprocess.run(command, cwd=irctest_dir, env=env, check=False)
    except OSError as exc:
        print(f"error: could not run irctest: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

    if result.returncode not in RAN_EXIT_CODES or not tmp_junit.exists():
        print(f"error: irctest did not run (pytest exit {result.returncode})", file=sys.stderr)
        return result.returncode or 2
    tmp_junit.replace(junit)
    score = count_junit(junit)
    print(f"JUnit report: {junit}")
    if args.failures:
        write_failures(junit, args.failures, args.server, score)
        print(f"Failures by area: {args.failures}")
    print(score)
    return 0


if __name__ == "__main__":
    sys.exit(main())
