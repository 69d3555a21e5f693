"""Write TFLite Model Metadata (the standard ``metadata_schema.fbs``, identifier
``M001``) into a ``.tflite`` and append its associated files as a zip.

This is the layout that Android Studio's model binding, the TFLite Support /
MediaPipe Tasks libraries and :mod:`runtime.metadata` read:

* the flatbuffer ``ModelMetadata`` lives in a model buffer named by the
  model's ``metadata`` entry ``TFLITE_METADATA``;
* ``labels.txt`` (one label per line, FER-2013 index order) is attached to the
  output tensor as ``TENSOR_AXIS_LABELS``;
* ``fer_contract.json`` (the full :class:`runtime.contract.ModelContract`, the
  face-crop rule and the accuracy figures) is attached to the model;
* both files are stored in a zip appended after the flatbuffer.

No maintained metadata writer installs beside TensorFlow 2.21 (tflite-support
pins old flatbuffers, mediapipe pins numpy<2), so the table is built here with
the ``flatbuffers`` builder, field by field as the schema orders them; the
tests read it back with the schema's own generated reader.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from dataclasses import dataclass, field

import flatbuffers

from runtime.contract import ModelContract
from runtime.metadata import (
    CONTRACT_FILE,
    LABELS_FILE,
    METADATA_NAME,
    MIN_PARSER_VERSION,
)

# Enum values from metadata_schema.fbs.
_FILE_DESCRIPTIONS, _FILE_TENSOR_AXIS_LABELS = 1, 2
_COLOR_RGB, _COLOR_GRAYSCALE = 1, 2
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2
_PROCESS_NORMALIZATION = 1


@dataclass
class ModelInfo:
    """The human-facing part of the metadata."""

    name: str = "fer-edge MobileNetV2"
    description: str = ("Facial expression recognition on a grayscale face crop "
                        "(FER-2013 labels: angry, disgust, fear, happy, sad, surprise, neutral).")
    version: str = "0.1.0"
    author: str = "fer-edge"
    license: str = "Apache-2.0 (model weights trained on FER-2013, which is for research use)"
    extra: dict = field(default_factory=dict)   # accuracy figures, provenance, gate record


def _vector(b, offs):
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _floats(b, values):
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _table(b, slots: dict, kinds: dict):
    """Build a table: ``slots`` maps field index -> value, ``kinds`` field index
    -> 'offset' | 'byte' | 'uint'. All offsets must exist already."""
    b.StartObject(max(slots) + 1)
    for i in sorted(slots):
        v, kind = slots[i], kinds.get(i, "offset")
        if kind == "offset":
            b.PrependUOffsetTRelativeSlot(i, v, 0)
        elif kind == "byte":
            b.PrependInt8Slot(i, v, 0)
        elif kind == "uint":
            b.PrependUint32Slot(i, v, 0)
    return b.EndObject()


def _associated_file(b, name, description, ftype):
    n, d = b.CreateString(name), b.CreateString(description)
    return _table(b, {0: n, 1: d, 2: ftype}, {2: "byte"})


def build_metadata(contract: ModelContract, info: ModelInfo) -> bytes:
    """The ``ModelMetadata`` flatbuffer (file identifier ``M001``)."""
    b = flatbuffers.Builder(1024)
    inp = contract.input
    # --- input tensor: a grayscale image of raw pixels ---
    size = _table(b, {0: inp.size, 1: inp.size}, {0: "uint", 1: "uint"})
    color = _COLOR_GRAYSCALE if inp.channels == 1 else _COLOR_RGB
    image_props = _table(b, {0: color, 1: size}, {0: "byte"})
    in_content = _table(b, {0: _CONTENT_IMAGE, 1: image_props}, {0: "byte"})
    # Normalization is inside the graph: the input takes raw 0..255 values, so
    # the metadata's normalization is the identity (mean 0, std 1).
    norm = _table(b, {0: _floats(b, [0.0] * inp.channels), 1: _floats(b, [1.0] * inp.channels)}, {})
    pu = _table(b, {0: _PROCESS_NORMALIZATION, 1: norm}, {0: "byte"})
    in_stats = _table(b, {0: _floats(b, [inp.pixel_max] * inp.channels),
                          1: _floats(b, [inp.pixel_min] * inp.channels)}, {})
    in_name = b.CreateString("image")
    in_desc = b.CreateString(
        f"Grayscale face crop, {inp.size}x{inp.size}x{inp.channels}, raw pixel intensities "
        f"{inp.pixel_min:g}..{inp.pixel_max:g} ({inp.dtype}"
        + (", scale 1, zero point -128)" if inp.dtype == "int8" else ", scale 1, zero point 0)"
           if inp.dtype == "uint8" else ")")
        + f". Crop: square, {contract.crop.scale:g} x the face box, centred.")
    in_meta = _table(b, {0: in_name, 1: in_desc, 3: in_content, 4: _vector(b, [pu]), 5: in_stats}, {})
    # --- output tensor: class probabilities with labels.txt ---
    b.StartObject(0)
    feat = b.EndObject()   # FeatureProperties has no fields
    out_content = _table(b, {0: _CONTENT_FEATURE, 1: feat}, {0: "byte"})
    out_stats = _table(b, {0: _floats(b, [1.0]), 1: _floats(b, [0.0])}, {})
    labels_file = _associated_file(b, LABELS_FILE, "Expression labels, FER-2013 index order.",
                                   _FILE_TENSOR_AXIS_LABELS)
    out_name = b.CreateString("probabilities")
    out_desc = b.CreateString(f"Probabilities of the {len(contract.labels)} expressions, "
                              "read with the tensor's own scale and zero point.")
    out_meta = _table(b, {0: out_name, 1: out_desc, 3: out_content, 5: out_stats,
                          6: _vector(b, [labels_file])}, {})
    sg_name = b.CreateString("fer")
    subgraph = _table(b, {0: sg_name, 2: _vector(b, [in_meta]), 3: _vector(b, [out_meta])}, {})
    # --- model ---
    contract_file = _associated_file(b, CONTRACT_FILE, "fer-edge model contract (JSON): labels, input, "
                                     "face-crop rule, accuracy and provenance.", _FILE_DESCRIPTIONS)
    name, desc = b.CreateString(info.name), b.CreateString(info.description)
    version, author = b.CreateString(info.version), b.CreateString(info.author)
    lic, mpv = b.CreateString(info.license), b.CreateString(MIN_PARSER_VERSION)
    root = _table(b, {0: name, 1: desc, 2: version, 3: _vector(b, [subgraph]), 4: author, 5: lic,
                      6: _vector(b, [contract_file]), 7: mpv}, {})
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def associated_files(contract: ModelContract, info: ModelInfo) -> dict[str, bytes]:
    doc = contract.to_dict()
    doc.update({"name": info.name, "version": info.version, "description": info.description,
                "author": info.author, "license": info.license})
    doc.update(info.extra)
    return {LABELS_FILE: ("\n".join(contract.labels) + "\n").encode(),
            CONTRACT_FILE: (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()}


def schema():
    """TFLite's generated flatbuffer schema module (LiteRT's copy, else TensorFlow's)."""
    try:
        from ai_edge_litert import (
            schema_py_generated as s,  # deferred: the interpreter package is chosen at run time
        )
    except ImportError:  # pragma: no cover - TensorFlow's copy of the same schema
        s = importlib.import_module("tensorflow.lite.python.schema_py_generated")
    return s


def populate(model_bytes: bytes, contract: ModelContract, info: ModelInfo) -> bytes:
    """Return ``model_bytes`` with the metadata buffer set and the files appended."""
    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAs(model_bytes, 0))
    meta_buf = s.BufferT()
    meta_buf.data = list(build_metadata(contract, info))
    model.buffers = list(model.buffers or [])
    ours = [m for m in (model.metadata or []) if m.name in (METADATA_NAME, METADATA_NAME.encode())]
    if ours:     # metadata written before (restamp): its buffer is replaced, so the file is what a fresh write gives
        model.buffers[ours[0].buffer] = meta_buf
    else:
        model.buffers.append(meta_buf)
        entry = s.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata = list(model.metadata or []) + [entry]
    b = flatbuffers.Builder(len(model_bytes) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    out = io.BytesIO()
    out.write(bytes(b.Output()))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as z:
        for fname, data in associated_files(contract, info).items():
            # A fixed timestamp keeps the model file byte-for-byte reproducible.
            z.writestr(zipfile.ZipInfo(fname, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def restamp(model_bytes: bytes, **changes) -> bytes:
    """``model_bytes`` (a fer-edge model with metadata) with fields of its
    contract document changed, e.g. ``tta="flip"``; the weights and graph are
    untouched, and the result is byte for byte what :func:`populate` writes
    for the changed contract."""
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as z:
        doc = json.loads(z.read(CONTRACT_FILE))
    doc.update(changes)
    contract = ModelContract.from_dict(doc)
    base = ModelInfo()
    human = {k: doc.get(k, getattr(base, k)) for k in ("name", "version", "description", "author", "license")}
    extra = {k: v for k, v in doc.items() if k not in contract.to_dict() and k not in human}
    return populate(model_bytes, contract, ModelInfo(**human, extra=extra))
