"""Read a ``.tflite``: its tensors, its TFLite Model Metadata and associated files.

Used before an interpreter ever sees the file, so that a file that is not a
TFLite model, or one that breaks the I/O contract, gets a one-line
:class:`~runtime.errors.ModelError` instead of a crash inside native code.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from dataclasses import dataclass, field

from . import flatbuf
from .contract import DEFAULT_CONTRACT, ModelContract
from .errors import ModelError

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
CONTRACT_FILE = "fer_contract.json"
MIN_PARSER_VERSION = "1.0.0"

MAX_MODEL_BYTES = 256 << 20          # a FER model is ~3 MB; refuse absurd files
MAX_ASSOCIATED_FILES = 16
MAX_ASSOCIATED_BYTES = 1 << 20
MAX_TENSOR_ELEMENTS = 1 << 26

TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                7: "int16", 8: "complex64", 9: "int8", 10: "float64"}


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0


@dataclass
class ModelFileInfo:
    """What a ``.tflite`` says about itself."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    contract: ModelContract = DEFAULT_CONTRACT
    has_metadata: bool = False
    name: str = ""
    version: str = ""
    description: str = ""
    author: str = ""
    license: str = ""
    extra: dict = field(default_factory=dict)      # the rest of fer_contract.json
    associated_files: dict[str, bytes] = field(default_factory=dict)


def _tensor(t: flatbuf.Table) -> TensorInfo:
    shape = tuple(t.scalars(0, "i"))
    if len(shape) > 8 or any(d < -1 or d > 1 << 16 for d in shape):
        raise ModelError(f"tensor {t.string(3)!r} has an absurd shape {shape}")
    n = 1
    for d in shape:
        n *= max(d, 1)
    if n > MAX_TENSOR_ELEMENTS:
        raise ModelError(f"tensor {t.string(3)!r} is absurdly large {shape}")
    q = t.table(4)
    scale, zp = 0.0, 0
    if q is not None:
        scales, zps = q.scalars(2, "f"), q.scalars(3, "q")
        scale, zp = (scales[0] if scales else 0.0), (zps[0] if zps else 0)
    return TensorInfo(t.string(3) or "", shape, TENSOR_TYPES.get(t.scalar(1, "b", 0), "unknown"),
                      float(scale), int(zp))


def _appended_zip(data: bytes) -> dict[str, bytes]:
    """The associated files zipped after the flatbuffer (the TFLite metadata
    convention); {} when there is no zip. Reads at most ``MAX_ASSOCIATED_BYTES``
    of each member whatever its header claims; any malformation is a ModelError."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except Exception:         # not a zip (or not one the zip reader can find): no associated files
        return {}
    infos = z.infolist()
    if len(infos) > MAX_ASSOCIATED_FILES:
        raise ModelError(f"metadata zip holds {len(infos)} files (at most {MAX_ASSOCIATED_FILES})")
    out = {}
    for info in infos:
        if info.file_size > MAX_ASSOCIATED_BYTES:
            raise ModelError(f"metadata file {info.filename!r} is too large ({info.file_size} bytes)")
        try:
            with z.open(info) as f:
                blob = f.read(MAX_ASSOCIATED_BYTES + 1)
        except Exception as e:    # zipfile, zlib, bz2, lzma and EOF errors alike
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            raise ModelError(f"malformed metadata zip ({msg})") from None
        if len(blob) > MAX_ASSOCIATED_BYTES:
            raise ModelError(f"metadata file {info.filename!r} is too large")
        out[info.filename] = blob
    return out


def inspect_bytes(data: bytes, source: str = "model") -> ModelFileInfo:
    """Parse and sanity-check a TFLite model held in memory.

    Raises:
        ModelError: not a TFLite flatbuffer, malformed, or with absurd tensors.
    """
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"{source}: {len(data)} bytes is too large for a model")
    if len(data) < 16:
        raise ModelError(f"{source}: not a TFLite model (file is {len(data)} bytes)")
    if data[4:8] != b"TFL3":
        raise ModelError(f"{source}: not a TFLite model (no TFL3 identifier)")
    try:
        model = flatbuf.root(data, b"TFL3")
        subgraphs = model.tables(2)
        if len(subgraphs) < 1:
            raise ModelError(f"{source}: the model has no subgraph")
        sg = subgraphs[0]
        tensors = sg.tables(0)
        ins, outs = sg.scalars(1, "i"), sg.scalars(2, "i")
        if any(not 0 <= i < len(tensors) for i in ins + outs):
            raise ModelError(f"{source}: input/output tensor index out of range")
        inputs = [_tensor(tensors[i]) for i in ins]
        outputs = [_tensor(tensors[i]) for i in outs]
        meta_buf = None
        buffers = None
        for m in model.tables(6):
            if m.string(0) == METADATA_NAME:
                buffers = buffers if buffers is not None else model.tables(4)
                bi = m.scalar(1, "I", 0)
                if bi >= len(buffers):
                    raise ModelError(f"{source}: metadata buffer index out of range")
                meta_buf = buffers[bi].bytes_(0)
    except flatbuf.FlatBufferError as e:
        raise ModelError(f"{source}: malformed TFLite model ({e})") from None
    info = ModelFileInfo(inputs=inputs, outputs=outputs)
    if meta_buf:
        try:
            mm = flatbuf.root(meta_buf, b"M001")
            info.name, info.description = mm.string(0) or "", mm.string(1) or ""
            info.version, info.author, info.license = mm.string(2) or "", mm.string(4) or "", mm.string(5) or ""
            info.has_metadata = True
        except flatbuf.FlatBufferError as e:
            raise ModelError(f"{source}: malformed TFLite metadata ({e})") from None
    files = _appended_zip(data)
    info.associated_files = files
    if CONTRACT_FILE in files:
        try:
            doc = json.loads(files[CONTRACT_FILE].decode("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            info.contract = ModelContract.from_dict(doc)
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            raise ModelError(f"{source}: malformed {CONTRACT_FILE} ({e})") from None
        info.extra = {k: v for k, v in doc.items() if k not in ("labels", "input", "crop", "tta", "temperature", "baseline")}
        info.has_metadata = True
    if LABELS_FILE in files:
        try:
            labels = tuple(x.strip() for x in files[LABELS_FILE].decode("utf-8").splitlines() if x.strip())
        except UnicodeDecodeError:
            raise ModelError(f"{source}: {LABELS_FILE} is not UTF-8 text") from None
        info.contract = dataclasses.replace(info.contract, labels=labels)
    return info


def inspect_file(path) -> ModelFileInfo:
    """:func:`inspect_bytes` of a file, with one-line errors for bad paths."""
    p = os.fspath(path)
    try:
        if os.path.isdir(p):
            raise ModelError(f"{p}: is a directory, not a .tflite model")
        size = os.path.getsize(p)
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"{p}: {size} bytes is too large for a model")
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ModelError(f"{p}: model file not found") from None
    except OSError as e:
        raise ModelError(f"{p}: cannot read model ({e.strerror or e})") from None
    return inspect_bytes(data, p)
