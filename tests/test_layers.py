"""The house's shape, read from the source with ``ast`` (every import, top-level
or inside a function):

* the stages' imports point down: runtime <- train <- convert <- benchmarks;
* no module imports itself back through others (no cycles);
* the user's path (``fer-infer``, ``python -m convert.quantize``, ``python -m
  train``) never reaches the lab that made the bundled models
  (``train.recipes``, ``convert.release``), at any depth;
* imports sit at the top of their module, except heavy or optional packages
  whose line says why (``# deferred: ...``);
* no function is longer than 100 lines.
"""

import ast
import sys

import pytest

from .conftest import REPO

ORDER = ("runtime", "train", "convert", "benchmarks")
LAB = ("train.recipes", "convert.release")
USER_ENTRY_POINTS = ("runtime.cli", "convert.quantize", "train.__main__")


def _modules() -> dict[str, object]:
    out = {}
    for stage in ORDER:
        for f in sorted((REPO / stage).rglob("*.py")):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str):
    """(imported module or name, import node, at top) for every import of ``module``."""
    f = MODULES[module]
    tree = ast.parse(f.read_text(), str(f))
    pkg = module if f.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            for a in node.names:
                yield (f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod), node, id(node) in top


GRAPH = {m: {r for name, _, _ in _imports(m) if (r := _resolve(name)) and r != m} for m in MODULES}


def _reach(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(GRAPH.get(m, ()))
    return seen


@pytest.mark.parametrize("stage", ORDER[:-1])
def test_a_stage_imports_only_the_stages_below_it(stage):
    above = set(ORDER[ORDER.index(stage) + 1:])
    bad = [f"{m}: {d}" for m, deps in GRAPH.items() if m.split(".")[0] == stage for d in deps
           if d.split(".")[0] in above]
    assert not bad, "imports that run back up the stages:\n" + "\n".join(bad)


def test_no_import_cycles():
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
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
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("entry", USER_ENTRY_POINTS)
def test_the_users_path_never_reaches_the_lab(entry):
    assert entry in MODULES
    lab = sorted(m for m in _reach(entry) if any(m == x or m.startswith(x + ".") for x in LAB))
    assert not lab, f"{entry} reaches the lab: {lab}"


def test_the_lab_lives_in_its_subpackages():
    names = {m.rpartition(".")[2] for m in MODULES if m.startswith(("train.", "convert."))
             and not m.startswith(LAB)}
    for lab_module in ("teacher", "soup", "prior", "ablation", "routes", "hints", "card", "frontier"):
        assert lab_module not in names, f"{lab_module} belongs in {LAB}"


def test_imports_are_at_the_top_unless_deferred_with_a_reason():
    late = []
    for m in MODULES:
        lines = MODULES[m].read_text().splitlines()
        for name, node, at_top in _imports(m):
            if at_top:
                continue
            said = " ".join(lines[max(0, node.lineno - 4):node.end_lineno]).lower()   # the line, or a comment above
            if "deferred" not in said and "lazy" not in said:
                late.append(f"{MODULES[m].relative_to(REPO)}:{node.lineno}: {name}")
    assert not late, "imports inside functions with no reason given:\n" + "\n".join(sorted(set(late)))


def test_no_function_is_over_100_lines():
    long = []
    for m, f in MODULES.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100:
                long.append(f"{f.relative_to(REPO)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, "\n".join(long)
