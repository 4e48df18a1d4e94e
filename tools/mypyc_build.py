"""Build a scratch copy of ircpsyc with its hot modules compiled by mypyc (issue 16).

Not part of the server or of `make`: the measurement of benchmarks/README.md
("issue 16, session 5: mypyc") found the gain too small to carry a compiled
build, and this script reproduces it.  It copies `ircpsyc/`, `benchmarks/` and
`tests/` to DEST, makes the two changes mypyc needs (below), compiles the
chosen modules in place and leaves the pure-Python source of the others, so
that

    PYTHONPATH=DEST python -m benchmarks.run ...    (run from DEST)
    cd DEST && python -m pytest -q tests/test_place.py

run the compiled build.  Usage (about 1-2 minutes of gcc on two cores):

    .venv/bin/python tools/mypyc_build.py /tmp/ircpsyc-mypyc [--modules hot|wide]

The changes to the copy, behaviour-preserving:
* `StateHolder`'s attributes are `property(attrgetter(...))` objects assigned
  in the class body; mypyc takes them for native attributes with defaults
  ("Unsupported default attribute value") and the holder would no longer read
  its `PlaceState`.  They become explicit properties.
* `PlaceObserver`, `StateHolder`, `Person` and `PersonObserver` are subclassed
  by interpreted modules (services, xmpp, tests); a compiled class refuses
  that ("interpreted classes cannot inherit from compiled") unless marked
  `@mypyc_attr(allow_interpreted_subclasses=True)` (from `mypy_extensions`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The modules on the path of a PRIVMSG (benchmarks/README.md, cProfile of bench_commands).
HOT = [
    "ircpsyc/psyc_backend/packet.py",
    "ircpsyc/psyc_backend/router.py",
    "ircpsyc/channels/place.py",
    "ircpsyc/persons/person.py",
    "ircpsyc/ircd/protocol.py",
    "ircpsyc/ircd/session.py",
    "ircpsyc/ircd/client.py",
    "ircpsyc/ircd/commands/messaging.py",
]
# HOT and everything else of ircpsyc that the profile shows per line.
WIDE = [
    *HOT,
    "ircpsyc/psyc_backend/uniform.py",
    "ircpsyc/psyc_backend/ids.py",
    "ircpsyc/persons/directory.py",
    "ircpsyc/services/history.py",
    "ircpsyc/ircd/lines.py",
    "ircpsyc/ircd/core.py",
    "ircpsyc/ircd/history_hooks.py",
    "ircpsyc/ircd/awaylog_hooks.py",
]
MODULE_SETS = {"hot": HOT, "wide": WIDE}

MYPY_INI = """\
[mypy]
python_version = 3.11
strict = True
[mypy-irctokens.*,sqlite_utils.*,uvloop.*,irc.*,slixmpp.*]
ignore_missing_imports = True
"""

SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(name="ircpsyc-mypyc", ext_modules=mypycify(["--config-file", "mypy.ini", *{mods!r}]))
"""

DECORATOR = "@mypyc_attr(allow_interpreted_subclasses=True)\n"
IMPORT = "\nfrom mypy_extensions import mypyc_attr\n"
IN_STATE = re.compile(r'^    (\w+): (.+?) = _in_state\("\w+"\)\n', re.MULTILINE)


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise SystemExit(f"mypyc_build: {old!r} not found; the source changed, update this script")
    return text.replace(old, new, 1)


def _explicit_property(match: re.Match[str]) -> str:
    name, kind = match.group(1), match.group(2)
    return (
        f"    @property\n    def {name}(self) -> {kind}:\n        return self.state.{name}\n\n"
        f"    @{name}.setter\n    def {name}(self, value: {kind}) -> None:\n"
        f"        self.state.{name} = value\n\n"
    )


def patch(dest: Path) -> None:
    """The two changes of the module docstring, on the copy in DEST."""
    place = dest / "ircpsyc/channels/place.py"
    text, count = IN_STATE.subn(_explicit_property, place.read_text())
    if not count:
        raise SystemExit("mypyc_build: no _in_state attributes found in place.py")
    typing_line = "from typing import Any, Protocol\n"
    text = _replace(text, typing_line, typing_line + IMPORT)
    text = _replace(text, "class PlaceObserver:", DECORATOR + "class PlaceObserver:")
    text = _replace(text, "class StateHolder:", DECORATOR + "class StateHolder:")
    place.write_text(text)
    person = dest / "ircpsyc/persons/person.py"
    text = person.read_text()
    typing_line = "from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar\n"
    text = _replace(text, typing_line, typing_line + IMPORT)
    text = _replace(text, "class Person:", DECORATOR + "class Person:")
    text = _replace(text, "class PersonObserver(", DECORATOR + "class PersonObserver(")
    person.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="scratch directory (replaced)")
    parser.add_argument("--modules", choices=sorted(MODULE_SETS), default="hot")
    args = parser.parse_args()
    dest: Path = args.dest.resolve()
    if dest == REPO or REPO in dest.parents:
        raise SystemExit("mypyc_build: DEST must be outside the repository")
    shutil.rmtree(dest, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.c")
    for part in ("ircpsyc", "benchmarks", "tests"):
        shutil.copytree(REPO / part, dest / part, ignore=ignore)
    patch(dest)
    mods = MODULE_SETS[args.modules]
    (dest / "mypy.ini").write_text(MYPY_INI)
    (dest / "setup_mypyc.py").write_text(SETUP.format(mods=mods))
    started = time.monotonic()
    # pyproject.toml is copied after the build: the venv's setuptools may be older
    # than the one pip builds the package with and refuse its metadata.
    subprocess.run(
        [sys.executable, "setup_mypyc.py", "build_ext", "--inplace", "-j", "2"],
        cwd=dest,
        check=True,
    )
    elapsed = time.monotonic() - started
    for name in ("pyproject.toml", "README.md"):  # the config tests read README.md and man/
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "man", dest / "man")
    venv = Path(sys.prefix)
    if (venv / "bin" / "ircpsyc").exists():  # benchmarks.run starts DEST/.venv/bin/ircpsyc
        os.symlink(venv, dest / ".venv")
    built = [*dest.glob("*.so"), *(dest / "ircpsyc").rglob("*.so")]  # not build/'s copies
    size = sum(path.stat().st_size for path in built)
    print(f"compiled {len(mods)} modules in {elapsed:.0f} s, {size / 1e6:.1f} MB of .so in {dest}")


if __name__ == "__main__":
    main()
