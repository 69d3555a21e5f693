"""Video input (OpenCV): frames processed, faces tracked, probabilities smoothed."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO, synthetic_faces


def test_tracker_keeps_ids_and_smooths():
    from runtime.recognizer import Face
    from runtime.video import Tracker

    labels = ["a", "b"]
    t = Tracker(labels, smooth=0.5)
    f1 = Face([10, 10, 20, 20], 1.0, "a", {"a": 1.0, "b": 0.0})
    f2 = Face([12, 10, 20, 20], 1.0, "b", {"a": 0.0, "b": 1.0})
    far = Face([200, 200, 20, 20], 1.0, "b", {"a": 0.0, "b": 1.0})
    (a,) = t.update([f1])
    b, c = t.update([f2, far])
    assert b["track"] == a["track"] and c["track"] != a["track"]
    assert b["probabilities"] == {"a": 0.5, "b": 0.5}


def test_video_file_gives_one_line_per_frame(tiny_int8, tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48))
    for f in synthetic_faces(5, seed=7):
        w.write(np.repeat(f[..., None], 3, axis=2))
    w.release()
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "--model", str(tiny_int8), "--no-detect", "--json",
                        str(path)], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert r.returncode == 0, r.stderr
    frames = [json.loads(x) for x in r.stdout.splitlines()]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4]
    assert all(f["faces"][0]["track"] == 1 for f in frames)
    assert "frames/s" in r.stderr


def test_haar_fallback_finds_the_astronaut():
    pytest.importorskip("cv2")
    from runtime.detect import HaarCascade
    from runtime.preprocess import load_image

    img = np.asarray(load_image(REPO / "runtime" / "samples" / "astronaut.png"))
    dets = HaarCascade().detect(img)
    assert len(dets) >= 1
    x, y, w, h = max(dets, key=lambda d: d.box[2]).box
    assert 150 < x + w / 2 < 260 and 60 < y + h / 2 < 160
