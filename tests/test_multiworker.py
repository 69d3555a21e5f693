"""python -m train --strategy multiworker with real worker processes on 127.0.0.1.

Two workers (TF_CONFIG each, free ports) train the smoke preset on tiny
generated data and are compared with a single process that mirrors over two
logical CPUs: the same global batch, cut into the same two per-replica halves,
so BatchNorm sees the same per-replica batches in both. The weights agree to
1e-4: the two runs differ only in how the gradient sum is reduced (gRPC ring
against in-process), a float32 summation-order difference of about 1e-7 per
step that a few Adam steps do not grow past 1e-5.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow
ARGS = ["--preset", "smoke", "--epochs", "3", "--set", "limit=16", "--set", "batch_size=8"]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def env_for(tmp, tf_config=None, **extra):
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp), FER_PEER_TIMEOUT="40")
    env.update(extra)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def start_workers(tmp_path, data, out, ports, resume=False):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(len(ports)):
        cmd = [sys.executable, "-m", "train", *ARGS, "--data", str(data), "--out", str(out), "--strategy", "multiworker"]
        procs.append(subprocess.Popen(cmd + (["--resume"] if resume else []), cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      env=env_for(tmp_path, {"cluster": cluster, "task": {"type": "worker", "index": i}})))
    return procs


def finish(procs, timeout=600):
    outs = []
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        outs.append((p.returncode, err))
    return outs


def weights(path):
    import train  # noqa: F401
    import tf_keras as keras

    from train.model import custom_objects

    m = keras.models.load_model(path, custom_objects=custom_objects(), compile=False)
    return [w for w in m.get_weights()]


def max_diff(a, b):
    return max(float(np.abs(x.astype(np.float64) - y).max()) if x.size else 0.0 for x, y in zip(a, b))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from .conftest import write_image_folder

    base = tmp_path_factory.mktemp("mw")
    data = base / "fer2013"
    write_image_folder(data)
    (base / "tmp").mkdir()
    ref = base / "mirrored"
    r = subprocess.run([sys.executable, "-m", "train", *ARGS, "--data", str(data), "--out", str(ref),
                        "--strategy", "mirrored"], cwd=REPO, capture_output=True, text=True, timeout=600,
                       env=env_for(base / "tmp", FER_LOGICAL_CPUS="2"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = base / "multi"
    results = finish(start_workers(base / "tmp", data, out, free_ports(2)))
    return {"base": base, "data": data, "ref": ref, "multi": out, "results": results}


def test_two_workers_finish_and_only_the_chief_writes(runs):
    for rc, err in runs["results"]:
        assert rc == 0, err[-2000:]
    out = runs["multi"]
    for f in ("config.yaml", "data.json", "history.json", "best.keras", "ckpt/last.keras", "report.md", "model.keras"):
        assert (out / f).is_file(), f
    assert len(json.loads((out / "history.json").read_text())) == 3
    log = (out / "train.log").read_text()
    assert "strategy multiworker: 2 replica(s)" in log and "not the chief" not in log
    assert not list((runs["base"] / "tmp").glob("fer-worker*")), "the worker's temporary folder was left behind"


def test_two_workers_reach_the_weights_of_one_process(runs):
    d = max_diff(weights(runs["multi"] / "ckpt" / "last.keras"), weights(runs["ref"] / "ckpt" / "last.keras"))
    assert d < 1e-4, d


def test_killed_worker_resumes_to_the_same_weights(runs, tmp_path):
    out = tmp_path / "killed"
    ports = free_ports(2)
    procs = start_workers(runs["base"] / "tmp", runs["data"], out, ports)
    deadline = time.time() + 600
    while not (out / "ckpt" / "state.json").is_file():      # the first epoch is written
        assert time.time() < deadline and all(p.poll() is None for p in procs), "no epoch finished"
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    rc_chief, err = finish(procs[:1])[0]
    procs[1].wait()
    if rc_chief == 0:
        pytest.skip("the chief finished before the kill landed (machine too fast for this test)")
    assert rc_chief == 6 and "error: a peer" in err.strip().splitlines()[-1], err[-2000:]
    assert json.loads((out / "ckpt" / "state.json").read_text())["epoch"] < 2
    for rc, err in finish(start_workers(runs["base"] / "tmp", runs["data"], out, free_ports(2), resume=True)):
        assert rc == 0, err[-2000:]
    d = max_diff(weights(out / "ckpt" / "last.keras"), weights(runs["multi"] / "ckpt" / "last.keras"))
    assert d < 1e-4, d


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', 'needs "cluster"'),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}', "outside the cluster"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "not host:port"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "chief", "index": 0}}', "not in the cluster"),
])
def test_malformed_tf_config_is_one_line_and_exit_2(tmp_path, tf_config, message):
    from train.distributed import read_tf_config
    from runtime.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        read_tf_config(tf_config)
    env = env_for(tmp_path)
    env["TF_CONFIG"] = tf_config
    r = subprocess.run([sys.executable, "-m", "train", *ARGS, "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                        "--strategy", "multiworker"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: TF_CONFIG"), r.stderr[-1500:]
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_unreachable_peer_and_unwritable_run_folder(tmp_path, tiny_folder):
    ports = free_ports(2)
    cfg = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": 1}}
    cmd = [sys.executable, "-m", "train", *ARGS, "--data", str(tiny_folder[0]), "--strategy", "multiworker"]
    r = subprocess.run(cmd + ["--out", str(tmp_path / "w")], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env=env_for(tmp_path, cfg, FER_PEER_TIMEOUT="5"))
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 6 and "did not answer within 5s" in last, r.stderr[-1500:]
    assert not (tmp_path / "w").exists() and not list(tmp_path.glob("fer-worker*"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg["task"]["index"] = 0
    r = subprocess.run(cmd + ["--out", str(blocker / "run")], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env=env_for(tmp_path, cfg, FER_PEER_TIMEOUT="5"))
    assert r.returncode == 5 and r.stderr.strip().splitlines()[-1].startswith("error: cannot write"), r.stderr[-1500:]
