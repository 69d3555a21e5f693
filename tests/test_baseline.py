"""A person's own baseline (issue #45): the rule, the automatic baselines of tracks and sittings, the
reference and calibration modes of fer-infer, and the timeline page."""

import csv
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from runtime.baseline import Baseline, Reader, TrackBaseline, auto_photos, read, reading
from runtime.contract import LABELS, BaselineRule, ModelContract

from .conftest import REPO
from .test_video import _cli, _clip

N = LABELS.index("neutral")
SAMPLE = REPO / "runtime" / "samples" / "astronaut.png"


def probs(**shares) -> np.ndarray:
    """A probability vector with the given shares, the rest spread evenly."""
    p = np.zeros(len(LABELS))
    for k, v in shares.items():
        p[LABELS.index(k)] = v
    rest = 1.0 - p.sum()
    p[p == 0] = rest / max(int((p == 0).sum()), 1)
    return p


def test_a_stern_resting_face_reads_neutral_against_itself_and_a_real_frown_still_reads_angry():
    stern = probs(angry=0.6, neutral=0.3)
    base = Baseline()
    base.add(stern)
    r = Reader(LABELS, BaselineRule(), "reference", base)
    label, info = reading(r, stern)
    assert (label, info["plain_label"]) == ("neutral", "angry")
    assert all(abs(v) < 1e-9 for v in info["rise"].values())
    assert reading(r, probs(angry=0.97, neutral=0.01))[0] == "angry"
    # a modest expression the plain reading calls neutral rises above this person's rest
    label, info = reading(Reader(LABELS, BaselineRule(), "reference", _base(probs(neutral=0.9, sad=0.02))),
                          probs(neutral=0.6, sad=0.3))
    assert (label, info["plain_label"]) == ("sad", "neutral")


def _base(*rows) -> Baseline:
    b = Baseline()
    for p in rows:
        b.add(p)
    return b


def test_the_margin_decides():
    i, rise = read(probs(neutral=0.5, happy=0.3), np.log(probs(neutral=0.5, happy=0.1)), N, 1.5)
    assert i == N and 1.0 < rise[LABELS.index("happy")] < 1.5
    assert read(probs(neutral=0.5, happy=0.3), np.log(probs(neutral=0.5, happy=0.1)), N, 1.0)[0] == LABELS.index("happy")


def test_a_track_that_smiles_throughout_stays_happy_and_relaxed_angry_relaxed_reads_angry_only_in_the_middle():
    r = Reader(LABELS, BaselineRule(), "auto")
    smile = TrackBaseline(r)
    assert {smile.read(probs(happy=0.8, neutral=0.1))[0] for _ in range(50)} == {"happy"}
    t = TrackBaseline(r)
    relaxed = [probs(neutral=0.7, angry=0.15)] * 20
    frown = [probs(neutral=0.45, angry=0.5)] * 10        # plainly angry only by a hair; against rest, clearly
    got = [t.read(p)[0] for p in relaxed + frown + relaxed]
    assert got[:20] == ["neutral"] * 20 and got[20:30] == ["angry"] * 10 and got[30:] == ["neutral"] * 20
    # frames read angry never join the baseline
    assert len(t.base) == 40


def test_a_new_track_starts_fresh_and_a_lost_one_forgets():
    from runtime.recognizer import Face
    from runtime.video import Tracker

    r = Reader(LABELS, BaselineRule(min_frames=2), "auto")
    tr = Tracker(LABELS, smooth=0.0, reader=r, max_missing=1)

    def face(x, p):
        return Face([x, 10, 40, 40], 1.0, "x", dict(zip(LABELS, p)))

    for _ in range(5):
        (row,) = tr.update([face(10, probs(neutral=0.7, sad=0.2))])
    assert row["baseline"]["mode"] == "auto" and row["baseline"]["faces"] == 4
    (other,) = tr.update([face(400, probs(neutral=0.7, sad=0.2))])        # a new person, elsewhere
    assert other["track"] != row["track"] and other["baseline"]["rise"] is None and other["baseline"]["faces"] == 0
    for _ in range(3):
        tr.update([face(400, probs(neutral=0.7, sad=0.2))])
    assert row["track"] not in tr.tracks                                  # lost: its baseline went with it


def test_a_sitting_of_photos():
    r = Reader(LABELS, BaselineRule(), "auto")
    happy = [probs(happy=0.8, neutral=0.15)] * 4
    assert [x[0] for x in auto_photos(r, happy)] == ["happy"] * 4        # nobody relaxed: plain
    got = auto_photos(r, [probs(neutral=0.8, fear=0.05)] * 3 + [probs(neutral=0.5, fear=0.4)])
    assert [x[0] for x in got] == ["neutral"] * 3 + ["fear"] and got[3][1]["faces"] == 3


def test_the_rule_travels_in_the_contract_and_a_bad_one_falls_back():
    c = ModelContract.from_dict({"baseline": {"margin": 2.0, "min_frames": 3}})
    assert c.baseline == BaselineRule(margin=2.0, min_frames=3)
    assert ModelContract.from_dict({"baseline": {"margin": -1}}).baseline == BaselineRule()
    assert ModelContract.from_dict({"baseline": {"window": "x"}}).baseline == BaselineRule()
    assert ModelContract().to_dict()["baseline"]["margin"] == BaselineRule().margin
    with pytest.raises(Exception, match="needs a 'neutral' label"):
        Reader(["a", "b"], BaselineRule(), "auto")


def test_plain_runs_are_unchanged_and_baseline_runs_say_how_each_face_was_read(tmp_path):
    r = _cli(str(SAMPLE), "--csv", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "baseline" not in r.stdout.splitlines()[0]
    r = _cli(str(SAMPLE), "--json", "--workers", "1")
    assert "baseline" not in json.loads(r.stdout)["faces"][0]
    r = _cli(str(SAMPLE), "--neutral", str(SAMPLE), "--json", "--workers", "1")
    assert r.returncode == 0, r.stderr
    face = json.loads(r.stdout)["faces"][0]
    assert face["label"] == "neutral" and face["baseline"]["mode"] == "reference"
    assert face["baseline"]["plain_label"] == "happy" and face["baseline"]["faces"] == 1
    # auto on photos: one sitting; the astronaut never relaxes, so he stays happy, read plainly
    r = _cli(str(SAMPLE), str(SAMPLE), "--baseline", "auto", "--csv", "--workers", "1")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["label"], x["baseline"], x["plain_label"]) for x in rows] == [("happy", "plain", "happy")] * 2


def test_bad_references_get_one_line_and_exit_2(tmp_path):
    gray = tmp_path / "wall.png"
    Image.new("RGB", (200, 200), (120, 120, 120)).save(gray)
    pair = tmp_path / "pair.png"
    im = Image.open(SAMPLE).convert("RGB")
    both = Image.new("RGB", (1024, 512))
    both.paste(im, (0, 0))
    both.paste(im, (512, 0))
    both.save(pair)
    (tmp_path / "empty").mkdir()
    for ref, says in ((gray, "no face found"), (pair, "about as large"), (tmp_path / "none.png", "no such file"),
                      (tmp_path / "empty", "no photos")):
        r = _cli(str(SAMPLE), "--neutral", str(ref))
        assert r.returncode == 2, r.stderr
        assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert _cli(str(SAMPLE), "--neutral", str(SAMPLE), "--baseline", "auto").returncode == 2
    assert _cli(str(SAMPLE), "--calibrate", "2").returncode == 2        # a photo has no first seconds
    assert _cli(str(SAMPLE), "--report", str(tmp_path / "r.html")).returncode == 2


def test_calibration_and_the_timeline_page(tmp_path):
    cv2 = pytest.importorskip("cv2")
    clip = tmp_path / "walk.avi"
    _clip(cv2, clip, frames=20)
    page = tmp_path / "out" / "report.html"
    r = _cli("--json", "--calibrate", "0.5", "--report", str(page), str(clip))
    assert r.returncode == 0, r.stderr
    assert "relax your face" in r.stderr and "calibrated on 5 frames" in r.stderr
    frames = [json.loads(x) for x in r.stdout.splitlines()[:-1]]
    modes = [f["faces"][0]["baseline"]["mode"] for f in frames]
    assert modes == ["plain"] * 5 + ["reference"] * 15
    assert all(f["faces"][0]["label"] == "neutral" for f in frames[5:])     # the same face as its reference
    html = page.read_text()
    assert html.count('<svg class="chart"') == 1 and "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "reference: 15 of 20 frames" in html
    # no face while calibrating: one line, exit 1, no page
    blank = tmp_path / "blank.avi"
    w = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"MJPG"), 10, (200, 120))
    for _ in range(8):
        w.write(np.full((120, 200, 3), 90, np.uint8))
    w.release()
    r = _cli("--calibrate", "0.5", "--report", str(tmp_path / "none.html"), str(blank))
    assert r.returncode == 1 and "no face seen while calibrating" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "none.html").exists()


def test_the_timeline_page_renders_a_chart_per_track_in_chromium(tmp_path):
    """Two tracks of one clip: the page renders in headless Chromium with one chart each."""
    cv2 = pytest.importorskip("cv2")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium is not installed (make web-test installs it)")
    face = np.asarray(Image.open(SAMPLE).convert("RGB").crop((120, 30, 330, 240)).resize((150, 150)))
    clip = tmp_path / "two.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 240))
    for i in range(10):
        f = np.full((240, 640, 3), 70, np.uint8)
        f[40:190, 20 + 2 * i:170 + 2 * i] = face
        f[40:190, 440 - 2 * i:590 - 2 * i] = face
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()
    page = tmp_path / "report.html"
    r = _cli("--baseline", "auto", "--report", str(page), str(clip))
    assert r.returncode == 0, r.stderr
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<section class="track">') == 2
    assert dom.stdout.count('class="chart"') == 2 and dom.stdout.count("<polyline") == 2 * len(LABELS)
    assert dom.stdout.count('<img class="thumb"') == 2
