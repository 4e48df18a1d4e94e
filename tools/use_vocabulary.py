"""Replace PSYC name literals by `V.<CONSTANT>` of ircpsyc.psyc_backend.vocabulary.

Usage: python tools/use_vocabulary.py FILE_OR_DIR...

Every plain string literal (not an f-string, not bytes) whose value is a name
defined in the vocabulary becomes `V.<NAME>`, and the module gets
`from ircpsyc.psyc_backend import vocabulary as V`; run `ruff check --fix` and
`ruff format` afterwards to sort the import.  Names used with two meanings
(`_status`: the method family and the STATUSMSG variable) get the method
constant; fix the variable uses by hand (`V.STATUSMSG`).  f-strings and
concatenations are left for a person to rewrite.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

from ircpsyc.psyc_backend import vocabulary

IMPORT = "from ircpsyc.psyc_backend import vocabulary as V\n"


def table() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, value in vars(vocabulary).items():
        if name.isupper() and isinstance(value, str):
            names.setdefault(value, name)  # the first definition (methods come first)
    return names


def rewrite(source: str, names: dict[str, str]) -> str:
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING or tok.string[0] not in "\"'":
            continue
        if tok.start[0] != tok.end[0] or tok.string.startswith(('"""', "'''")):
            continue
        value = ast.literal_eval(tok.string)
        if value in names:
            edits.append((tok.start[0], tok.start[1], tok.end[1], f"V.{names[value]}"))
    if not edits:
        return source
    for row, start, end, text in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + text + line[end:]
    out = "".join(lines)
    if IMPORT not in out:
        tree = ast.parse(out)
        last = max(
            (
                n.end_lineno or n.lineno
                for n in tree.body
                if isinstance(n, ast.Import | ast.ImportFrom)
            ),
            default=0,
        )
        rows = out.splitlines(keepends=True)
        rows.insert(last, IMPORT)
        out = "".join(rows)
    return out


def main(paths: list[str]) -> None:
    names = table()
    for arg in paths:
        root = Path(arg)
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in files:
            if path.name == "vocabulary.py":
                continue
            text = path.read_text()
            new = rewrite(text, names)
            if new != text:
                path.write_text(new)
                print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
