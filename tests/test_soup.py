"""python -m train.recipes.soup: weight averaging of runs, BatchNorm recalibration, the soup's run folder."""

import json
import shutil

import numpy as np
import pytest

import train  # noqa: F401
from runtime.errors import ConfigError
from train.sources import for_run


def test_average_is_elementwise_and_refuses_other_architectures():
    from train.recipes.soup import average_weights

    a = [np.array([[1.0, 2.0]], np.float32), np.array([3], np.int64)]
    b = [np.array([[3.0, 6.0]], np.float32), np.array([9], np.int64)]
    avg = average_weights([a, b])
    np.testing.assert_array_equal(avg[0], [[2.0, 4.0]])
    assert avg[0].dtype == np.float32
    assert avg[1].tolist() == [3]          # counters are not averaged
    with pytest.raises(ConfigError, match="another architecture"):
        average_weights([a, [np.zeros((2, 2), np.float32), b[1]]])


def test_greedy_soup_adds_runs_best_first_and_only_when_publictest_holds():
    from train.recipes.soup import greedy

    own = [0.670, 0.690, 0.680, 0.600]           # each run's own PublicTest accuracy
    soups = {(1, 2): 0.695, (1, 2, 0): 0.695, (1, 2, 0, 3): 0.650}
    tried = []

    def soup_accuracy(members):
        tried.append(list(members))
        return soups[tuple(members)]

    kept, steps = greedy(own, soup_accuracy)
    assert tried == [[1, 2], [1, 2, 0], [1, 2, 0, 3]]      # best first; a tie with the soup without it joins
    assert kept == [0, 1, 2]
    assert [(s["index"], s["kept"]) for s in steps] == [(1, True), (2, True), (0, True), (3, False)]
    assert steps[0]["PublicTest_accuracy"] == 0.690 and steps[3]["PublicTest_accuracy"] == 0.650
    kept, steps = greedy([0.5, 0.7], lambda m: 0.6)        # nothing beats the best run: it stays alone
    assert kept == [1] and [s["kept"] for s in steps] == [True, False]


def test_batchnorm_statistics_become_the_mean_of_batch_statistics():
    import tf_keras as keras

    from train.model import build_model
    from train.recipes.soup import recalibrate_batchnorm

    model = build_model(image_size=48, alpha=0.35, channels=1, dropout=0.0)
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    before = keras.Model(model.inputs, bn.input)
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (24, 48, 48), dtype=np.uint8)
    momentum = bn.momentum
    assert recalibrate_batchnorm(model, faces, batch_size=8) == 3
    acts = before.predict(faces[..., None].astype(np.float32), verbose=0)
    batch_means = [acts[i:i + 8].mean(axis=(0, 1, 2)) for i in range(0, 24, 8)]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(batch_means, axis=0), rtol=1e-4, atol=1e-4)
    batch_vars = [acts[i:i + 8].var(axis=(0, 1, 2)) for i in range(0, 24, 8)]
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean(batch_vars, axis=0), rtol=0.02, atol=1e-3)
    assert bn.momentum == momentum         # restored


@pytest.mark.slow
def test_soup_of_two_runs_is_a_finished_run(tmp_path, tiny_folder, capsys):
    """Two tiny runs, the second started from the first's best model: the
    soup folder has the averaged model, its report and the soup record, and
    names the run the second started from."""
    from train import config, loop
    from train.recipes.soup import main

    root, _ = tiny_folder
    first = config.load_preset("smoke")
    first.data, first.out, first.epochs, first.limit, first.batch_size = str(root), str(tmp_path / "a"), 1, 14, 7
    loop.run(first, for_run(first), log=lambda m: None)
    released = tmp_path / "released.keras"       # the second run starts from a copy of the first's best model
    shutil.copy(tmp_path / "a" / "best.keras", released)
    second = config.from_dict({"out": str(tmp_path / "b"), "init": str(released), "seed": 1}, first)
    loop.run(second, for_run(second), log=lambda m: None)
    shutil.copy(tmp_path / "b" / "best.keras", released)   # that path holds another model by now (a later release)
    out = tmp_path / "soup"
    rc = main(["--runs", first.out, second.out, "--out", str(out), "--data", str(root), "--bn-images", "20",
               "--bn-batch-size", "10", "--qat-epochs", "0"])
    assert rc == 0, capsys.readouterr().err
    soup = json.loads((out / "soup.json").read_text())
    assert [i["started_from"] for i in soup["ingredients"]] == [None, "a"]
    assert soup["batchnorm"]["batches"] == 2
    # the statistics kept are the better of the two on PublicTest, and the soup's accuracy is theirs
    bn = soup["batchnorm"]
    assert bn["statistics"] == ("recalibrated" if bn["PublicTest_accuracy"]["recalibrated"]
                                >= bn["PublicTest_accuracy"]["averaged"] else "averaged")
    assert soup["PublicTest_accuracy"]["soup"] == bn["PublicTest_accuracy"][bn["statistics"]]
    report = json.loads((out / "report.json").read_text())
    assert report["soup"]["ingredients"][1]["sha256"] == soup["ingredients"][1]["sha256"]
    assert set(report["results"]) >= {"PublicTest", "PrivateTest"}
    for f in ("best.keras", "model.keras", "model.json", "config.yaml", "train.log"):
        assert (out / f).is_file(), f
    from train.report import inference_model

    kernels = [inference_model(first, p)[0].get_layer("predictions").get_weights()[0]
               for p in (tmp_path / "a" / "best.keras", tmp_path / "b" / "best.keras", out / "best.keras")]
    np.testing.assert_allclose(kernels[2], (kernels[0] + kernels[1]) / 2, atol=1e-6)
    assert not np.allclose(kernels[0], kernels[1])
    greedy_out = tmp_path / "greedy"
    assert main(["--runs", first.out, second.out, "--out", str(greedy_out), "--data", str(root), "--bn-images", "20",
                 "--bn-batch-size", "10", "--qat-epochs", "0", "--greedy"]) == 0
    g = json.loads((greedy_out / "soup.json").read_text())
    assert sorted(st["run"] for st in g["greedy"]) == ["a", "b"] and g["greedy"][0]["kept"]
    assert "statistics" not in g["greedy"][0] and g["greedy"][1]["statistics"] in ("averaged", "recalibrated")
    kept = [i["kept"] for i in g["ingredients"]]
    assert kept == [next(st["kept"] for st in g["greedy"] if st["run"] == n) for n in ("a", "b")]
    k = inference_model(first, greedy_out / "best.keras")[0].get_layer("predictions").get_weights()[0]
    np.testing.assert_allclose(k, np.mean([kern for kern, keep in zip(kernels[:2], kept) if keep], axis=0), atol=1e-6)
    # a soup among the runs (an earlier release) is named by its soup command and its inference model
    nested = tmp_path / "nested"
    assert main(["--runs", str(greedy_out), second.out, "--out", str(nested), "--data", str(root), "--bn-images",
                 "20", "--bn-batch-size", "10", "--qat-epochs", "0"]) == 0
    inner, run_b = json.loads((nested / "soup.json").read_text())["ingredients"]
    from train.io import file_sha256

    assert inner["soup"] and inner["command"] == g["command"]
    assert inner["model_sha256"] == file_sha256(greedy_out / "model.keras") and "soup" not in run_b
    assert main(["--runs", first.out, "--out", str(tmp_path / "one"), "--data", str(root)]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main(["--runs", first.out, second.out, "--out", str(out), "--data", str(root)]) == 2
    assert "not empty" in capsys.readouterr().err
