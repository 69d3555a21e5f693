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
    *frames, end = [json.loads(x) for x in r.stdout.splitlines()]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4]
    assert end["summary"]["tracks"][0]["frames"] == 5
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


def _clip(cv2, path, frames=12, fps=10.0):
    from PIL import Image

    face = np.asarray(Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB")
                      .crop((80, 0, 392, 312)).resize((240, 240)))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (400, 240))
    for i in range(frames):
        f = np.full((240, 400, 3), 70, np.uint8)
        f[:, 20 + 4 * i:260 + 4 * i] = face
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)


def test_video_sampling_timestamps_tracks_summary_csv_and_annotation(tmp_path):
    """--every/--fps sample frames; each row has the frame index and its time
    in ms, a track id, box, label and probabilities; the JSON ends with a
    per-track summary; CSV works; --annotate writes a playable annotated copy."""
    cv2 = pytest.importorskip("cv2")
    clip = tmp_path / "walk.avi"
    _clip(cv2, clip)
    r = _cli("--json", "--fps", "5", "--annotate", str(tmp_path / "ann"), str(clip))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    frames, summary = rows[:-1], rows[-1]["summary"]
    assert [f["frame"] for f in frames] == [0, 2, 4, 6, 8, 10]
    assert [f["time_ms"] for f in frames] == [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
    assert all(len(f["faces"]) == 1 and f["faces"][0]["track"] == 1 for f in frames)
    face = frames[0]["faces"][0]
    assert set(face) >= {"track", "box", "label", "probabilities"} and len(face["probabilities"]) == 7
    (track,) = summary["tracks"]
    assert track["frames"] == 6 and track["duration_ms"] == 1000.0 and track["dominant"] == "happy"
    assert abs(sum(track["shares"].values()) - 1) < 1e-3 and summary["frame_step"] == 2
    out = tmp_path / "ann" / "walk.annotated.mp4"
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 6
    r = _cli("--csv", "--every", "0.5", str(clip))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("path,frame,time_ms,track,x,y,width,height,label,uncertain,angry")
    assert [x.split(",")[1:3] for x in lines[1:]] == [["0", "0.0"], ["5", "500.0"], ["10", "1000.0"]]
    assert _cli("--fps", "0", str(clip)).returncode == 2
    assert _cli("--fps", "2", "--every", "1", str(clip)).returncode == 2
