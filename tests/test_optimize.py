"""QAT and pruning stages on a tiny model, through to an int8 TFLite."""

import pytest

import train  # noqa: F401

from .conftest import synthetic_faces
from train.sources import for_run


@pytest.mark.slow
def test_prune_then_qat_stages_convert_to_int8(tmp_path, tiny_folder):
    from convert.quantize import QuantizationConfig, io_contract, load_keras_model, to_tflite
    from train import config, loop, optimize

    cfg = config.load_preset("smoke")
    cfg.data, cfg.out, cfg.limit, cfg.batch_size, cfg.epochs = str(tiny_folder[0]), str(tmp_path / "r"), 14, 7, 1
    cfg.prune_epochs, cfg.prune_sparsity, cfg.qat_epochs = 2, 0.5, 1
    out = loop.run(cfg, for_run(cfg), log=lambda m: None)
    pruned = load_keras_model(out / "pruned.keras")
    assert optimize.sparsity(pruned) == pytest.approx(0.5, abs=0.02)
    qat = load_keras_model(out / "qat.h5")
    raw = to_tflite(qat, QuantizationConfig.for_int8(), synthetic_faces(16))
    assert io_contract(raw).dtype == "uint8"
    assert (out / "train.log").read_text().count("qat epoch") == 1
