"""The shape of the package: no import cycle, modules and functions of a readable size, and
dependencies that point one way (readers and cores <- recipe sections <- stages <- runner <- cli).

Built from the source with :mod:`ast`, without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xpipe"
#: about 600 lines for a module and 80 for a function, as the contributing notes say
MAX_MODULE_LINES = 650
MAX_FUNCTION_LINES = 80

#: the layers, lowest first; a module may import its own layer and those below it
LAYERS = [
    ("core", ("xpipe.lineshapes", "xpipe.io", "xpipe.xrd", "xpipe.xas", "xpipe.xps", "xpipe.echem",
              "xpipe.synth", "xpipe.progress", "xpipe.errors", "xpipe.codec", "xpipe.outfiles",
              "xpipe.outdir", "xpipe.nexus", "xpipe.inspect")),
    ("settings", ("xpipe.recipe",)),
    ("stages", ("xpipe.stages", "xpipe.store", "xpipe.results", "xpipe.summary", "xpipe.cache")),
    ("runner", ("xpipe.runner", "xpipe.run_steps", "xpipe.executor", "xpipe.watch",
                "xpipe.watch_support", "xpipe.api", "xpipe.synth.scoreboard")),
    ("cli", ("xpipe.cli", "xpipe.__main__")),
]


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    if node.level:
        package = package[: len(package) - node.level + 1]
    base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _imports() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """Top-level imports between xpipe modules, and the function-local ones (module, line, target)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    local: list[tuple[str, int, str]] = []
    for m, f in MODULES.items():
        tree = ast.parse(f.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for t in _targets(m, node):
                if t not in MODULES or t == m:
                    continue
                if id(node) in top:
                    graph[m].add(t)
                else:
                    local.append((m, node.lineno, t))
    return graph, local


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int:
    """The layer of the longest prefix that names ``module`` (-1: the package's lazy top)."""
    best, found = -1, ""
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > len(found):
                best, found = i, p
    return best


def test_no_import_cycle():
    graph, local = _imports()
    assert not _cycles(graph), f"import cycles: {_cycles(graph)}"
    for m, _line, t in local:
        graph[m].add(t)
    assert not _cycles(graph), f"import cycles through function-local imports: {_cycles(graph)}"


def test_dependencies_point_down_the_layers():
    graph, local = _imports()
    edges = [(m, t, None) for m in graph for t in graph[m]] + [(m, t, line) for m, line, t in local]
    upward = [f"{m} imports {t}" + (f" (line {line})" if line else "")
              for m, t, line in edges if _layer(t) > _layer(m) >= 0]
    assert not upward, "\n".join(upward)


def test_local_imports_of_the_package_say_why():
    """A function-local import of an xpipe module is only there to defer a slow library (larch,
    lmfit, pyFAI, matplotlib) or startup work, and says so on its line."""
    _, local = _imports()
    silent = []
    for m, line, t in local:
        text = MODULES[m].read_text().splitlines()[line - 1]
        if "#" not in text:
            silent.append(f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {t}")
    assert not silent, "\n".join(silent)


def _long_functions() -> list[str]:
    out = []
    for f in MODULES.values():
        lines = f.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            reason = lines[first - 2].strip().startswith("#") if first >= 2 else False
            if length > MAX_FUNCTION_LINES and not reason:
                out.append(f"{f.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_functions_are_short_or_say_why():
    """A function over the limit has a comment on the line above it giving the reason."""
    long = _long_functions()
    assert not long, "\n".join(long)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_of_a_readable_size(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{module}: {n} lines; split it along its sections"
