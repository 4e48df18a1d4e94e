"""The dependency rule of DEVELOPING.md, enforced on the code's own imports.

Layers, bottom up: the base modules (config, store, passwords, TLS and address
helpers), psyc_backend, channels, persons, services, the front-ends (ircd,
xmpp, web), and the composition (server.py, assemble.py, linking.py, the
command line). A module imports only from its own layer or below; front-ends
never import each other; import cycles hold at most three modules. Every import counts: at the
top of a module, inside a function, or under TYPE_CHECKING.

What the code still does against the rule is listed in KNOWN_* below, each
entry a debt with the work that removes it; an entry that is no longer true
fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ircpsyc"

RANKS = {
    "base": 0,
    "psyc_backend": 1,
    "channels": 2,
    "persons": 3,
    "services": 4,
    "ircd": 5,
    "xmpp": 5,
    # The web listener is a door into the IRC front-end: it serves the page and
    # hands WebSocket lines to an ircd connection, so it sits on top of ircd.
    "web": 5.5,
    "composition": 6,
}
FRONT_ENDS = {"ircd", "xmpp", "web"}
# Front-end packages that may use another: the web door and the IRC sessions.
DOORS = {("web", "ircd")}
COMPOSITION = {"server", "assemble", "linking", "cli", "__main__"}
MAX_CYCLE = 3

# Upward or cross-front-end imports still in the code, as (importer, imported)
# module prefixes: a debt each, with the work that pays it.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _known(pair: tuple[str, str]) -> bool:
    return any(_within(pair[0], a) and _within(pair[1], b) for a, b in KNOWN_VIOLATIONS)


# Import cycles of more than MAX_CYCLE modules still in the code, each named by
# the package it sits in: the modules of a cycle must all be in that package.
KNOWN_CYCLES: set[str] = set()


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return "base"
    top = parts[1]
    if top in RANKS:
        return top
    return "composition" if top in COMPOSITION else "base"


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports, wherever the import statement is."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        graph[name]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.append(node.module)
                targets += [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    found = set()
    for importer, imported in ((a, b) for a, targets in graph.items() for b in targets):
        low, high = layer(imported), layer(importer)
        upward = RANKS[low] > RANKS[high]
        across = (
            low in FRONT_ENDS and high in FRONT_ENDS and low != high and (high, low) not in DOORS
        )
        if upward or across:
            found.add((importer, imported))
    return found


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_goes_up_or_across_front_ends() -> None:
    new = {pair for pair in violations(import_graph()) if not _known(pair)}
    assert not new, "imports against the layer rule (see DEVELOPING.md):\n" + "\n".join(
        f"  {a} imports {b}" for a, b in sorted(new)
    )


def test_known_violations_are_still_there() -> None:
    found = violations(import_graph())
    gone = {
        (a, b)
        for a, b in KNOWN_VIOLATIONS
        if not any(_within(x, a) and _within(y, b) for x, y in found)
    }
    assert not gone, "fixed, so remove from KNOWN_VIOLATIONS: " + ", ".join(sorted(map(str, gone)))


def test_no_import_cycle_of_more_than_three_modules() -> None:
    big = [c for c in cycles(import_graph()) if len(c) > MAX_CYCLE]
    unknown = [
        c for c in big if not any(all(m.startswith(k + ".") for m in c) for k in KNOWN_CYCLES)
    ]
    assert not unknown, "import cycles: " + "; ".join(", ".join(sorted(c)) for c in unknown)
    stale = [k for k in KNOWN_CYCLES if not any(all(m.startswith(k + ".") for m in c) for c in big)]
    assert not stale, f"no cycle left in {stale}: remove it from KNOWN_CYCLES"


def test_the_checker_sees_function_level_and_upward_imports(tmp_path: Path) -> None:
    root = tmp_path / "ircpsyc"
    (root / "channels").mkdir(parents=True)
    (root / "services").mkdir()
    for package in (root, root / "channels", root / "services"):
        (package / "__init__.py").write_text("", encoding="utf-8")
    (root / "services" / "svc.py").write_text("X = 1\n", encoding="utf-8")
    (root / "channels" / "place.py").write_text(
        "def later() -> None:\n    from ircpsyc.services.svc import X\n", encoding="utf-8"
    )
    graph = import_graph(root)
    assert violations(graph) == {("ircpsyc.channels.place", "ircpsyc.services.svc")}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_uniform_kinds_are_told_apart_in_one_module() -> None:
    """Whether a uniform names a person ("/~") or a service ("/$") is asked of
    ircpsyc.psyc_backend.uniform (is_person, is_service, ...), never by a string test
    of its own: the wire forms live in one place."""
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "uniform.py"
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if '"/$"' in text or '"/~"' in text
    ]
    assert found == []
