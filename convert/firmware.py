"""A fer-edge int8 model for microcontrollers: checked and measured under
TensorFlow Lite for Microcontrollers (TFLM), exported as C source.

    python -m convert.firmware models/micro/fer_mobilenetv2_int8.tflite --out build/firmware

writes ``fer_model.h`` and ``fer_model.c``: the model bytes (16-byte
aligned), the tensor arena size measured by TFLM's recording allocator (and
the size to reserve, with a margin), the input contract (size, channels,
type, zero point), the labels, the output quantization, and the TFLM
operators the model needs as an X-macro for a ``MicroMutableOpResolver``.
Everything is read from the model file itself.

The measurement runs the model in the Python TFLM interpreter (PyPI
``tflite-micro``) with its reference kernels. A board's optimized kernels
(CMSIS-NN on Cortex-M, ESP-NN on ESP32-S3) can ask for scratch buffers of
their own, hence the margin. Exit codes: 0 written, 2 bad model or flags,
3 TFLM not installed (``pip install tflite-micro``), 4 the model does not
run under TFLM (an operator it lacks).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from convert.graph import operators as ops
from runtime.errors import EXIT_CHECK, EXIT_USAGE, FerError, ModelError
from runtime.metadata import inspect_bytes
from train.io import atomic_write_text

#: TFLite builtin operator -> MicroMutableOpResolver method (the operators a fer-edge graph can hold)
TFLM_OPS = {
    "ADD": "AddAdd", "AVERAGE_POOL_2D": "AddAveragePool2D", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize",
    "FULLY_CONNECTED": "AddFullyConnected", "LOGISTIC": "AddLogistic", "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean", "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "PAD": "AddPad", "PADV2": "AddPadV2",
    "QUANTIZE": "AddQuantize", "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear", "SOFTMAX": "AddSoftmax", "SUB": "AddSub",
}
#: share added to the measured arena for the size to reserve on a board
ARENA_MARGIN = 0.10
#: models up to this size also run under TFLM in the benchmarks (its reference kernels are slow on large models)
TFLM_MAX_BYTES = 512 * 1024
#: arena the measuring interpreter gets (more than any fer-edge model needs)
PROBE_ARENA = 4 << 20

EXIT_BAD, EXIT_NOT_TFLM = EXIT_USAGE, EXIT_CHECK
EXIT_NO_TFLM = EXIT_USAGE        # the micro extra is missing


class FirmwareError(FerError):
    """The model cannot be exported: a bad model or flag (2), TFLM missing (2) or unable to run it (4)."""

    def __init__(self, msg: str, code: int = EXIT_BAD):
        super().__init__(msg)
        self.exit_code = code


def _tflm():
    try:
        from tflite_micro import (
            runtime,  # deferred: TFLM's interpreter is an optional extra (micro)
        )
    except ImportError:
        raise FirmwareError("TFLM's Python interpreter is not installed: pip install tflite-micro "
                            "(or pass --arena BYTES measured elsewhere)", EXIT_NO_TFLM) from None
    return runtime


def operators(tflite: bytes) -> list[str]:
    """The distinct builtin operators of the model, in first-use order; FirmwareError
    when one is not in :data:`TFLM_OPS`."""
    seen = list(dict.fromkeys(ops(tflite)))
    missing = [o for o in seen if o not in TFLM_OPS]
    if missing:
        raise FirmwareError(f"operators TFLM does not implement (or fer-edge does not map): {', '.join(missing)}",
                            EXIT_NOT_TFLM)
    return seen


class TflmModel:
    """A model in TFLM's Python interpreter (reference kernels)."""

    def __init__(self, path: Path, arena_size: int = PROBE_ARENA):
        runtime = _tflm()
        try:
            self.it = runtime.Interpreter.from_file(str(path), arena_size=arena_size)
        except (RuntimeError, ValueError) as e:
            raise FirmwareError(f"{path}: TFLM cannot load it ({str(e).splitlines()[0][:200]})", EXIT_NOT_TFLM) \
                from None
        self.input = self.it.get_input_details(0)
        self.output = self.it.get_output_details(0)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        self.it.set_input(x.reshape(self.input["shape"]).astype(self.input["dtype"]), 0)
        self.it.invoke()
        return self.it.get_output(0).reshape(-1).copy()

    def arena(self) -> dict[str, int]:
        """TFLM's recording allocator: {"total", "head", "tail"} bytes (read from
        ``print_allocations()``, which writes to the C-level stderr)."""
        saved = os.dup(2)
        with tempfile.TemporaryFile() as f:
            sys.stderr.flush()
            os.dup2(f.fileno(), 2)
            try:
                self.it.print_allocations()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            f.seek(0)
            text = f.read().decode("utf-8", "replace")
        found = {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
        if "total" not in found:
            raise FirmwareError("TFLM printed no arena figure")
        return found


def measure(path: Path) -> dict:
    """Run the model once under TFLM and return its arena figures."""
    m = TflmModel(path)
    m.run_raw(np.zeros(m.input["shape"], m.input["dtype"]))
    a = m.arena()
    a["reserve"] = int(np.ceil(a["total"] * (1 + ARENA_MARGIN) / 1024) * 1024)
    return a


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_info(model: bytes, source: str = "model"):
    """The model file's own description; FirmwareError unless it is a fer-edge model with metadata."""
    try:
        info = inspect_bytes(model, source)
    except ModelError as e:
        raise FirmwareError(str(e)) from None
    if not info.has_metadata:
        raise FirmwareError(f"{source} has no fer-edge metadata (labels and input contract)")
    return info


def c_source(model: bytes, arena: dict, name: str = "fer_model") -> tuple[str, str]:
    """(header, source) text for ``model`` (a fer-edge .tflite with metadata)."""
    info = model_info(model)
    c, ops = info.contract, operators(model)
    out = info.outputs[0]
    up = name.upper()
    scale, zp = out.scale, out.zero_point
    labels = ", ".join(_c_string(label) for label in c.labels)
    op_lines = " \\\n".join(f"  X({TFLM_OPS[o]})" for o in ops)
    header = f"""/* {name}.h: a fer-edge expression model for TensorFlow Lite for Microcontrollers.
 * Generated by `python -m convert.firmware` from the model file; do not edit.
 *
 *   #include "{name}.h"
 *   static uint8_t arena[{up}_ARENA_SIZE] __attribute__((aligned(16)));
 *   const tflite::Model* model = tflite::GetModel({name}_data);
 *   tflite::MicroMutableOpResolver<{up}_OP_COUNT> resolver;
 *   #define {up}_ADD_OP(method) resolver.method();
 *   {up}_OPS({up}_ADD_OP)
 *   tflite::MicroInterpreter interpreter(model, resolver, arena, sizeof(arena));
 *   interpreter.AllocateTensors();
 *   // input: the {c.input.size}x{c.input.size} gray face crop, one byte a pixel (see {up}_INPUT_*)
 *   // output: {len(c.labels)} quantized probabilities; label i is {name}_labels[i]
 */
#ifndef {up}_H
#define {up}_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* The .tflite, 16-byte aligned as TFLM requires. */
extern const uint8_t {name}_data[];
extern const size_t {name}_size;

/* Tensor arena measured by TFLM's recording allocator (Python interpreter,
 * reference kernels), and what to reserve: {100 * ARENA_MARGIN:.0f}% more, rounded up to
 * 1 KiB, for the scratch buffers of optimized kernels (CMSIS-NN, ESP-NN). */
#define {up}_ARENA_MEASURED {arena['total']}
#define {up}_ARENA_SIZE {arena['reserve']}

/* Input contract: [1, SIZE, SIZE, CHANNELS] of the gray crop's bytes
 * ({c.input.dtype}; int8 inputs take each byte minus 128). Crop rule: a square of
 * CROP_SCALE x the longer side of the face box, centred CROP_SHIFT_Y box heights
 * below its centre (negative = above). */
#define {up}_INPUT_SIZE {c.input.size}
#define {up}_INPUT_CHANNELS {c.input.channels}
#define {up}_INPUT_IS_INT8 {1 if c.input.dtype == "int8" else 0}
#define {up}_INPUT_ZERO_POINT {c.input.zero_point}
#define {up}_CROP_SCALE {c.crop.scale}f
#define {up}_CROP_SHIFT_Y {c.crop.shift_y}f

/* Output: probability of label i = (raw[i] - ZERO_POINT) * SCALE. */
#define {up}_OUTPUT_SCALE {float(scale)!r}f
#define {up}_OUTPUT_ZERO_POINT {int(zp)}
#define {up}_NUM_LABELS {len(c.labels)}
extern const char* const {name}_labels[{up}_NUM_LABELS];

/* The TFLM operators the model needs, one MicroMutableOpResolver method each. */
#define {up}_OP_COUNT {len(ops)}
#define {up}_OPS(X) \\
{op_lines}

#ifdef __cplusplus
}}
#endif

#endif /* {up}_H */
"""
    rows = "\n".join("  " + ", ".join(f"0x{b:02x}" for b in model[i:i + 16]) + ","
                     for i in range(0, len(model), 16))
    source = f"""/* {name}.c: generated by `python -m convert.firmware`; do not edit. */
#include "{name}.h"

#if defined(__GNUC__) || defined(__clang__)
#define {up}_ALIGNED __attribute__((aligned(16)))
#else
#define {up}_ALIGNED _Alignas(16)
#endif

const char* const {name}_labels[{up}_NUM_LABELS] = {{{labels}}};

const size_t {name}_size = {len(model)};

const uint8_t {name}_data[] {up}_ALIGNED = {{
{rows}
}};
"""
    return header, source


def export(model_path: Path, out_dir: Path, arena: dict | None = None, name: str = "fer_model") -> dict:
    """Write ``<name>.h`` and ``<name>.c`` into ``out_dir``; return what was written."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FirmwareError(f"{model_path}: no such model file")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise FirmwareError(f"--name must be a C identifier (got {name!r})")
    model = model_path.read_bytes()
    model_info(model, str(model_path))
    operators(model)
    if arena is None:
        arena = measure(model_path)
    header, source = c_source(model, arena, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / f"{name}.h", header)
    atomic_write_text(out_dir / f"{name}.c", source)
    return {"header": str(out_dir / f"{name}.h"), "source": str(out_dir / f"{name}.c"), "arena": arena,
            "operators": operators(model), "bytes": len(model)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.firmware", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a fer-edge int8 .tflite (with metadata)")
    p.add_argument("--out", required=True, help="folder for <name>.h and <name>.c")
    p.add_argument("--name", default="fer_model", help="C name prefix")
    p.add_argument("--arena", type=int, help="tensor arena bytes measured elsewhere (default: measure with TFLM)")
    a = p.parse_args(argv)
    try:
        arena = None
        if a.arena is not None:
            if a.arena <= 0:
                raise FirmwareError("--arena must be positive")
            arena = {"total": a.arena, "reserve": int(np.ceil(a.arena * (1 + ARENA_MARGIN) / 1024) * 1024)}
        r = export(Path(a.model), Path(a.out), arena, a.name)
    except FirmwareError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD
    print(f"wrote {r['header']} and {r['source']}: {r['bytes']} model bytes, arena {r['arena']['total']} bytes "
          f"measured (reserve {r['arena']['reserve']}), operators {', '.join(r['operators'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
