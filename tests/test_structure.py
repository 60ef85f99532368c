"""The package's shape: no import cycle between modules, no function longer than a screen, stages that do not
reach into each other's runners or CLIs. Read from the source with `ast`, so the checks see what a reader sees."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "clca"
MAX_FUNCTION_LINES = 60
STAGES = ("cultures", "scenarios", "roleplay", "judge", "intents", "training", "evaluation", "report", "pipeline",
          "translate")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.rglob("*.py")}


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Modules of the package that `name` imports (at any depth: a lazy import in a function is still an edge)."""
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out |= {t for t in targets if t in known and t != name}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, tree in modules.items():
        body = ast.Module(body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
                          type_ignores=[]) if top_level_only else tree
        # a package's __init__ re-exports its own modules; an edge from a submodule to its package is not a cycle
        graph[name] = {m for m in _imports(name, body, known) if not name.startswith(m + ".")}
    return graph


def test_no_import_cycle_between_modules():
    assert _cycles(_graph(top_level_only=False)) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_longer_than_a_screen():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_no_stage_imports_another_stages_runner_or_cli():
    modules = _modules()
    offenders = []
    for name, tree in modules.items():
        parts = name.split(".")
        stage = parts[1] if len(parts) > 1 and parts[1] in STAGES else None
        for imported in _imports(name, tree, set(modules)):
            iparts = imported.split(".")
            other = iparts[1] if len(iparts) > 1 else None
            internal = len(iparts) > 2 and iparts[2] in ("runner", "cli", "run")
            if stage and other in STAGES and other != stage and internal and stage != "pipeline":
                offenders.append(f"{name} -> {imported}")
    assert offenders == []
