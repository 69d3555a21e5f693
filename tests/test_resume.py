"""kill -9 in the middle of a run, then --resume: the same final weights as an
uninterrupted run with the same seed (tolerance: 1e-5 absolute per weight)."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import REPO

TOLERANCE = 1e-5


def _train(tiny_root, out, *extra, wait=True):
    cmd = [sys.executable, "-m", "train", "--preset", "smoke", "--data", str(tiny_root), "--out", str(out),
           "--epochs", "4", "--set", "limit=42", "--set", "batch_size=7", "--set", "dropout=0.3", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_DETERMINISTIC_OPS="1")
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=env)


def _weights(path):
    import train  # noqa: F401
    import tf_keras as keras

    from train.loop import make_schedule
    from train.config import load_preset
    from train.model import custom_objects

    make_schedule(load_preset("smoke"), 1)
    return keras.models.load_model(path, compile=False, custom_objects=custom_objects()).get_weights()


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_folder):
    root, _ = tiny_folder
    straight = _train(root, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    rng = random.Random(int(os.environ.get("FER_KILL_SEED", "0")))
    out = tmp_path / "killed"
    p = _train(root, out, wait=False)
    state = out / "ckpt" / "state.json"
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.5))          # somewhere in epoch 2 (or its checkpoint write)
    assert p.poll() is None, "the run ended before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    resumed = _train(root, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = _weights(tmp_path / "straight" / "ckpt" / "last.keras"), _weights(out / "ckpt" / "last.keras")
    assert len(a) == len(b)
    worst = max(float(np.abs(x - y).max()) for x, y in zip(a, b))
    assert worst <= TOLERANCE, f"max weight difference {worst}"
    import json

    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4]
