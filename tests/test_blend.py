"""The release candidate of issue #36 as a run folder: FER+ runs averaged, blended with their base, a class prior
fitted on the choosing sets (PublicTest with both label sets, wild-dev) and nothing chosen on PrivateTest."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from runtime.contract import LABELS
from tests.conftest import synthetic_faces
from train import ferplus
from train.sources import for_run

#: the FER+ vote column of each FER-2013 label
COLUMN = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
          "surprise": "surprise", "neutral": "neutral"}


def beside(root, made, wild_per_label=2):
    """FER+ votes (the crowd agrees with every label) and a small wild-dev, beside the tiny FER-2013 ``root``."""
    fp = root.parent / "ferplus"
    fp.mkdir()
    head = "Usage,Image name," + ",".join(ferplus.VOTE_COLUMNS)
    rows, maps = [head], ["path,fer2013_row"]
    for i, (rel, (label, usage, _)) in enumerate(sorted(made.items())):
        votes = [10 if c == COLUMN[label] else 0 for c in ferplus.VOTE_COLUMNS]
        rows.append(f"{usage},fer{i}.png," + ",".join(map(str, votes)))
        maps.append(f"{rel},{i}")
    (fp / "fer2013new.csv").write_text("\n".join(rows) + "\n")
    (fp / "fer2013_imagefolder_to_ferplus.csv").write_text("\n".join(maps) + "\n")
    faces = synthetic_faces(wild_per_label * len(LABELS), seed=5)
    for k, label in enumerate(np.repeat(LABELS, wild_per_label)):
        d = root.parent / "wild-dev" / label
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(faces[k]).save(d / f"p{k}_{k}.png")


def test_blend_of_runs_and_base_is_a_finished_run_with_its_prior(tmp_path, tiny_folder, capsys):
    from train import config, loop
    from train.recipes.blend import main
    from train.report import inference_model

    root, made = tiny_folder
    beside(root, made)
    first = config.load_preset("smoke")
    first.data, first.out, first.epochs, first.limit, first.batch_size = str(root), str(tmp_path / "a"), 1, 14, 7
    loop.run(first, for_run(first), log=lambda m: None)
    base = tmp_path / "base.keras"
    shutil.copy(tmp_path / "a" / "best.keras", base)
    second = config.from_dict({"out": str(tmp_path / "b"), "init": str(base), "seed": 1}, first)
    loop.run(second, for_run(second), log=lambda m: None)
    out = tmp_path / "blend"
    rc = main(["--runs", first.out, second.out, "--base", str(base), "--base-share", "0.5", "--prior", "balanced",
               "--out", str(out), "--data", str(root)])
    assert rc == 0, capsys.readouterr().err
    rec = json.loads((out / "blend.json").read_text())
    assert rec["base_share"] == 0.5 and len(rec["ingredients"]) == 2
    assert rec["ingredients"][1]["init_sha256"] == rec["base_sha256"]   # the second run started from the base
    assert sorted(rec["chosen_on"]) == ["PublicTest", "PublicTest_FERplus", "wild_dev"]    # never PrivateTest
    assert rec["posed_held_out"] == [0, 1, 2, 3]        # neither the runs nor the base (no record) saw posed/
    assert rec["sets"]["wild_dev"]["n"] == 2 * len(LABELS)
    report = json.loads((out / "report.json").read_text())
    assert report["blend"]["command"] == rec["command"] and set(report["results"]) >= {"PublicTest", "PrivateTest"}
    for f in ("best.keras", "model.keras", "model.json", "config.yaml", "report.md"):
        assert (out / f).is_file(), f
    # weights: half the runs' average, half the base; the head's bias carries the fitted offsets on top
    layers = [inference_model(first, p)[0].get_layer("predictions").get_weights()
              for p in (tmp_path / "a" / "best.keras", tmp_path / "b" / "best.keras", base, out / "best.keras")]
    want = 0.5 * (layers[0][0] + layers[1][0]) / 2 + 0.5 * layers[2][0]
    np.testing.assert_allclose(layers[3][0], want, atol=1e-6)
    bias = 0.5 * (layers[0][1] + layers[1][1]) / 2 + 0.5 * layers[2][1] + np.array(rec["prior"]["offsets"])
    np.testing.assert_allclose(layers[3][1], bias, atol=2e-3)
    # bad flags and a used folder are one-line errors with the documented codes
    assert main(["--runs", first.out, "--base-share", "0.3", "--out", str(tmp_path / "x"), "--data", str(root)]) == 2
    assert "needs the base model" in capsys.readouterr().err
    assert main(["--runs", first.out, "--out", str(out), "--data", str(root)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_blend_of_a_folder_that_is_not_a_run_says_so(tmp_path, tiny_folder, capsys):
    from train.recipes.blend import main

    root, _ = tiny_folder
    rc = main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--data", str(root)])
    assert rc == 2 and "no config.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("share", ["1.0", "-0.1"])
def test_blend_refuses_a_share_outside_zero_to_one(tmp_path, share, capsys):
    from train.recipes.blend import main

    assert main(["--runs", str(tmp_path), "--base-share", share, "--out", str(tmp_path / "o")]) == 2
    assert "--base-share" in capsys.readouterr().err


def test_prediction_ensemble_is_the_shared_geometric_mean():
    """``choose --ensemble``: members' log-probabilities averaged by share, the base at its share and the runs
    equal in the rest; one member at share 1 gives that member back."""
    from train.recipes.choose import ensemble, ensemble_shares

    assert ensemble_shares(3, None) == pytest.approx([1 / 3] * 3)
    assert ensemble_shares(4, 0.2) == pytest.approx([0.8 / 3] * 3 + [0.2])
    a = {"s": np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])}
    b = {"s": np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]])}
    assert np.allclose(ensemble([a, b], [1.0, 0.0])["s"], a["s"])
    mix = ensemble([a, b], [0.5, 0.5])["s"]
    g = np.sqrt(a["s"] * b["s"])
    assert np.allclose(mix, g / g.sum(1, keepdims=True)) and np.allclose(mix.sum(1), 1.0)


def test_ensemble_base_without_ensemble_is_refused(tmp_path, capsys):
    from train.recipes.choose import main

    rc = main(["--model", str(tmp_path / "a.keras"), "--base", str(tmp_path / "b.keras"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "--base goes with --ensemble" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--ensemble", "--base", "b.keras", "--base-shares", "0.2,x"],
                                   ["--ensemble", "--base", "b.keras", "--base-shares", "1.5"],
                                   ["--blend", "b.keras", "--alphas", ""],
                                   ["--posed-folds", "4"], ["--posed-folds", "0,x"]])
def test_choose_refuses_bad_shares_in_one_line(tmp_path, flags, capsys):
    from train.recipes.choose import main

    assert main(["--model", str(tmp_path / "a.keras"), *flags, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert ("shares within 0..1" in err or "--posed-folds takes" in err) and "Traceback" not in err
