"""The house rules of docs/ARCHITECTURE.md, checked on the source itself.

- No import cycle in ``src/``: every import counts, at module level, inside a function
  (lazy) or under ``TYPE_CHECKING``, so a lower layer never names an upper one at all.
- One door to SQLite: only ``store.py`` holds the org's connection. Elsewhere nothing reads
  a ``conn``/``_conn`` attribute or opens a connection; ``sqlite3`` is imported only for
  its exception classes. So every statement goes through ``Store.read``/``Store.write``
  (and every write reaches the SOQL result cache's change tracking).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGES = ("sforg_sim", "verify")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((SRC / pkg).rglob("*.py")):
            parts = list(path.relative_to(SRC).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, modules: dict[str, Path]) -> set[str]:
    """Modules of the project that ``name`` imports, anywhere in its text."""
    tree = ast.parse(modules[name].read_text())
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name``
            # imports mod.
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_src() -> None:
    modules = _modules()
    graph = {m: _imports(m, modules) for m in modules}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The control: a graph with a (lazy-import-shaped) cycle is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_imports_are_read_everywhere_in_a_module(tmp_path: Path) -> None:
    """Lazy and TYPE_CHECKING imports count as edges."""
    modules = _modules()
    imports = _imports("sforg_sim.org", modules)
    assert {"sforg_sim.core", "sforg_sim.apexlang.api", "sforg_sim.scenarios"} <= imports
    assert "sforg_sim.core" in _imports("sforg_sim.apex.context", modules)  # TYPE_CHECKING


_SQLITE_OK = {"Error", "IntegrityError", "OperationalError", "DatabaseError",
              "DataError", "InterfaceError", "InternalError", "NotSupportedError",
              "ProgrammingError", "Warning"}


def _door_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in ("conn", "_conn"):
                bad.append(f"{path.name}:{node.lineno}: .{node.attr}")
            if (isinstance(node.value, ast.Name) and node.value.id == "sqlite3"
                    and node.attr not in _SQLITE_OK):
                bad.append(f"{path.name}:{node.lineno}: sqlite3.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
            bad.append(f"{path.name}:{node.lineno}: from sqlite3 import ...")
    return bad


def test_store_is_the_only_door_to_sqlite() -> None:
    outside = [p for p in sorted((SRC / "sforg_sim").rglob("*.py")) if p.name != "store.py"]
    assert outside
    violations = [v for p in outside for v in _door_violations(p)]
    assert violations == []


@pytest.mark.parametrize("code", [
    "org.store.conn.execute('DELETE FROM Opportunity')",
    "store._conn.executemany(sql, rows)",
    "c = sqlite3.connect(path)",
    "from sqlite3 import connect",
])
def test_the_door_check_catches_a_back_door(tmp_path: Path, code: str) -> None:
    """The control: each way around the store is reported."""
    f = tmp_path / "mod.py"
    f.write_text(f"import sqlite3\n{code}\n")
    assert _door_violations(f)
