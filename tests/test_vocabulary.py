"""The PSYC vocabulary: every method name in ircpsyc/ is one of its constants.

Method names inherit by prefix, so a misspelt one is not an error at run time:
`_notice_place_leave_kik` is handled as `_notice_place_leave` (a PART instead
of a KICK).  This test reads every module of the package and fails on any
string that looks like a PSYC method and is not defined in
`ircpsyc/psyc_backend/vocabulary.py`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import ircpsyc
from ircpsyc.psyc_backend import vocabulary as V

PACKAGE = Path(ircpsyc.__file__).parent
VOCABULARY = Path(V.__file__)

# A method, a method family, or a prefix ending in `_` (matched with startswith).
METHOD = re.compile(
    r"^_(request|notice|message|echo|status|error|failure|warning|info)(_[a-z0-9]+)*_?$"
)


def defined() -> set[str]:
    return {value for name, value in vars(V).items() if name.isupper() and isinstance(value, str)}


def unknown_methods(source: str, filename: str, known: set[str]) -> list[str]:
    """`file:line: '<name>'` for each method-like string constant not in `known`.

    f-string pieces count too: in `f"_request_{op}"` the piece `_request_` must
    be a named prefix.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if METHOD.match(node.value) and node.value not in known:
            found.append(f"{filename}:{node.lineno}: {node.value!r}")
    return found


def test_every_method_literal_is_in_the_vocabulary() -> None:
    known = defined()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == VOCABULARY:
            continue
        problems += unknown_methods(path.read_text(), str(path.relative_to(PACKAGE.parent)), known)
    assert not problems, "PSYC methods missing from vocabulary.py:\n" + "\n".join(problems)


def test_a_typo_in_a_method_fails() -> None:
    snippet = 'packet = Packet("_notice_place_leave_kik", {"_nick": nick})\n'
    assert unknown_methods(snippet, "x.py", defined()) == ["x.py:1: '_notice_place_leave_kik'"]
    fine = 'Packet("_notice_place_leave_kick", {}); f"_request_account_{op}"\n'
    assert unknown_methods(fine, "x.py", defined()) == []
    assert unknown_methods('f"_request_acount_{op}"\n', "x.py", defined()) == [
        "x.py:1: '_request_acount_'"
    ]


def _assignments() -> list[tuple[str, str, int]]:
    """(constant, value, line) of every top-level NAME = "..." in vocabulary.py."""
    out = []
    for node in ast.parse(VOCABULARY.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            (target,) = node.targets
            assert isinstance(target, ast.Name)
            assert isinstance(node.value.value, str)
            out.append((target.id, node.value.value, node.lineno))
    return out


def test_no_duplicates() -> None:
    entries = _assignments()
    names = [name for name, _, _ in entries]
    assert len(names) == len(set(names)), "a constant is defined twice"
    # Values are unique too, except `_status`: the method family and the
    # STATUSMSG variable share the name (both are PSYC's, in separate sections).
    seen: dict[str, str] = {}
    for name, value, _ in entries:
        if value in seen and {seen[value], name} != {"STATUS", "STATUSMSG"}:
            raise AssertionError(f"{value!r} is both {seen[value]} and {name}")
        seen[value] = name


def test_naming_convention() -> None:
    for name, value, _ in _assignments():
        if name in ("STATUSMSG",):
            continue
        stem = value[1:].upper()
        if value.endswith("_") and len(value) > 1:
            assert name == stem.rstrip("_") + "_PREFIX", name
        elif name.endswith("_SUFFIX"):
            assert name == stem + "_SUFFIX", name
        else:
            assert name == stem, name


def test_every_constant_has_a_comment() -> None:
    source = VOCABULARY.read_text()
    commented = {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and len(tok.string.lstrip("# ")) > 3
    }
    missing = [name for name, _, line in _assignments() if line not in commented]
    assert not missing, f"constants without a one-line comment: {missing}"
    assert len(_assignments()) > 250  # methods and variables, not a stub
