"""Replay the fuzzing seed corpus and every saved finding through the fuzz targets.

``tests/fuzz/run.py`` (atheris) saves what it finds under
``tests/fuzz/findings/<target>/``; from then on each file is a regression
test here. Replays run in a child process so that a native crash shows up as
a failed test with its signal, not as a dead pytest.
"""

import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"

REPLAY = """
import sys
from pathlib import Path
sys.path.insert(0, {fuzz!r})
from targets import SEEDS, TARGETS
fn = TARGETS[{target!r}]
for d in ("seeds/" + SEEDS[{target!r}], "findings/" + {target!r}):
    for f in sorted((Path({fuzz!r}) / d).glob("*")):
        print(f.name, flush=True)
        fn(f.read_bytes())
print("replayed")
"""


@pytest.mark.parametrize("target", ["image", "metadata", "model"])
def test_fuzz_target_survives_seeds_and_findings(target):
    assert len(list((FUZZ / "seeds" / ("image" if target == "image" else "model")).glob("*"))) > 10
    proc = subprocess.run([sys.executable, "-c", REPLAY.format(fuzz=str(FUZZ), target=target)],
                          capture_output=True, text=True, timeout=600, cwd=FUZZ.parent.parent)
    last = proc.stdout.strip().splitlines()[-1:] or ["(nothing)"]
    assert proc.returncode == 0, f"{target}: died on {last[0]} (rc {proc.returncode})\n{proc.stderr[-2000:]}"
    assert last[0] == "replayed"


def test_findings_are_refused_with_one_line_errors():
    """Each saved metadata/model finding is refused by fer-infer with exit 2, no traceback."""
    files = [f for t in ("metadata", "model") for f in sorted((FUZZ / "findings" / t).glob("*"))]
    if not files:
        pytest.skip("no findings saved")
    from runtime.classifier import Classifier
    from runtime.errors import ModelError

    for f in files:
        with pytest.raises(ModelError) as e:
            Classifier(f)
        assert "\n" not in str(e.value)


def test_readme_fuzzing_figures_come_from_results_json():
    import json
    import sys

    sys.path.insert(0, str(FUZZ))
    import run

    results = json.loads((FUZZ / "results.json").read_text())
    assert run.readme_block(results) in (FUZZ.parent.parent / "docs" / "security.md").read_text()
    assert {t["target"] for t in results["targets"]} == {"image", "metadata", "model"}
