"""The stages' imports point down: runtime <- train <- convert <- benchmarks.

Every import in a stage's modules (top-level or inside a function) is read
with ``ast``; a stage may import only the stages below it. No module circles
within train/ through its error types either."""

import ast

import pytest

from .conftest import REPO

ORDER = ("runtime", "train", "convert", "benchmarks")


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("stage", ORDER[:-1])
def test_a_stage_imports_only_the_stages_below_it(stage):
    above = set(ORDER[ORDER.index(stage) + 1:])
    bad = [f"{f.relative_to(REPO)}: {m}" for f in sorted((REPO / stage).rglob("*.py"))
           for m in _imports(f) if m.split(".")[0] in above]
    assert not bad, "imports that run back up the stages:\n" + "\n".join(bad)


def test_train_errors_import_nothing_of_train():
    mods = set(_imports(REPO / "train" / "errors.py"))
    tree = ast.parse((REPO / "train" / "errors.py").read_text())
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
    assert not relative and not any(m.startswith("train") for m in mods)
