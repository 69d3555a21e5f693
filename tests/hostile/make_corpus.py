"""Write the committed corpus of hostile or broken .tflite files.

    python tests/hostile/make_corpus.py

Every file must be refused by fer-infer with a one-line error and exit code 2
(tests/test_hostile.py); none may crash the process.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "corpus"


def tiny_model(shape=(1, 48, 48, 1), ttype=3, outputs=(0,), extra_tensors=0, identifier=b"TFL3") -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    tensors = []
    for i in range(1 + extra_tensors):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), ttype, 0, f"t{i}".encode()
        tensors.append(t)
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = tensors, [0], list(outputs), []
    m.subgraphs, m.operatorCodes = [sg], []
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), identifier)
    return bytes(b.Output())


def with_zip(model: bytes, files: dict[str, bytes], deflate=False) -> bytes:
    buf = io.BytesIO()
    buf.write(model)
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "a") as z:
        for k, v in files.items():
            z.writestr(zipfile.ZipInfo(k, date_time=(2020, 1, 1, 0, 0, 0)), v, compress_type=method)
    return buf.getvalue()


def corpus() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    ok = tiny_model()
    return {
        "empty.tflite": b"",
        "short.tflite": b"TFL3TFL3",
        "text.tflite": b"this is not a model\n" * 10,
        "wrong_magic.tflite": tiny_model(identifier=b"XXXX"),
        "garbage_after_magic.tflite": b"\x10\x00\x00\x00TFL3" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "root_out_of_bounds.tflite": b"\xff\xff\xff\x7fTFL3" + bytes(64),
        "truncated.tflite": ok[: len(ok) // 2],
        "absurd_shape.tflite": tiny_model(shape=(1, 1 << 20, 1 << 20, 1)),
        "negative_shape.tflite": tiny_model(shape=(-5, 48, 48, 1)),
        "nine_dims.tflite": tiny_model(shape=(1,) * 9),
        "string_input.tflite": tiny_model(ttype=5),
        "int64_input.tflite": tiny_model(ttype=4),
        "two_outputs.tflite": tiny_model(outputs=(0, 1), extra_tensors=1),
        "output_not_labels.tflite": tiny_model(),
        "zip_bomb_labels.tflite": with_zip(ok, {"labels.txt": b"\0" * (3 << 20)}, deflate=True),
        "zip_many_files.tflite": with_zip(ok, {f"f{i}.txt": b"x" for i in range(40)}),
        "zip_bad_contract.tflite": with_zip(ok, {"fer_contract.json": b"{not json"}),
        "zip_contract_not_object.tflite": with_zip(ok, {"fer_contract.json": b"[1, 2, 3]"}),
        "zip_labels_not_utf8.tflite": with_zip(ok, {"labels.txt": b"\xff\xfe\xfa\n" * 7}),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in corpus().items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(corpus())} files to {OUT}")


if __name__ == "__main__":
    main()
