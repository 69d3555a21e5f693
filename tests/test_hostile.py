"""Hostile or broken .tflite files: refused with a one-line error and exit code 2,
never a crash. The corpus is committed (tests/hostile/make_corpus.py writes it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from runtime.errors import ModelError

from .conftest import REPO, synthetic_faces

CORPUS = sorted((Path(__file__).parent / "hostile" / "corpus").glob("*.tflite"))


def test_corpus_is_committed_and_current():
    from tests.hostile.make_corpus import corpus

    want = corpus()
    assert sorted(p.name for p in CORPUS) == sorted(want)
    for p in CORPUS:
        assert p.read_bytes() == want[p.name], p.name


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_runtime_refuses_before_the_interpreter(path):
    from runtime.classifier import Classifier

    with _no_warning_check():
        with pytest.raises(ModelError) as e:
            Classifier(path)
    assert "\n" not in str(e.value)


class _no_warning_check:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *a):
        return self._w.__exit__(*a)


def test_cli_exits_2_on_every_hostile_model(tmp_path):
    face = tmp_path / "face.png"
    Image.fromarray(synthetic_faces(1)[0]).save(face)
    code = ("import sys\nfrom runtime.cli import main\n"
            "rc = [main(['--model', p, '--no-detect', sys.argv[1]]) for p in sys.argv[2:]]\n"
            "print(','.join(map(str, rc)))\n")
    r = subprocess.run([sys.executable, "-c", code, str(face), *map(str, CORPUS)], capture_output=True, text=True,
                       cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]          # no signal, no traceback
    assert r.stdout.strip() == ",".join(["2"] * len(CORPUS))
    errors = [l for l in r.stderr.splitlines() if l.startswith("fer-infer: error:")]
    assert len(errors) == len(CORPUS) and "Traceback" not in r.stderr
