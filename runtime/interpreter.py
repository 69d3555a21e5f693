"""Find a TFLite interpreter: LiteRT first, then tflite-runtime, then TensorFlow.

LiteRT (``ai-edge-litert``) runs int8 models with XNNPACK; tflite-runtime 2.14
does not (7-10x slower for int8) but is the only choice on 32-bit ARM.
TensorFlow's own interpreter is the last resort (it costs seconds to import).
Set ``FER_INTERPRETER=litert|tflite_runtime|tensorflow`` to force one.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from importlib.metadata import version

from .errors import ModelError

_CANDIDATES = (
    ("litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime", "tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow", "tensorflow.lite.python.interpreter", "tensorflow"),
)


@dataclass(frozen=True)
class Backend:
    name: str
    module: object
    version: str

    @property
    def interpreter_class(self):
        return self.module.Interpreter


def _dist_version(dist: str) -> str:
    try:
        return version(dist)
    except Exception:
        return "unknown"


def find_backend(preferred: str | None = None) -> Backend:
    """The first importable interpreter (``preferred`` or ``$FER_INTERPRETER`` first).

    Raises:
        ModelError: no interpreter is installed.
    """
    preferred = preferred or os.environ.get("FER_INTERPRETER") or None
    order = list(_CANDIDATES)
    if preferred:
        order = [c for c in order if c[0] == preferred]
        if not order:
            raise ModelError(f"unknown interpreter {preferred!r}; use litert, tflite_runtime or tensorflow")
    for name, module, dist in order:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        return Backend(name, mod, _dist_version(dist))
    raise ModelError("no TFLite interpreter installed: pip install ai-edge-litert "
                     "(or tflite-runtime on 32-bit ARM)")


def probe_backend() -> tuple[str, str] | None:
    """(name, version) of the interpreter that would be used, without importing it."""
    forced = os.environ.get("FER_INTERPRETER")
    for name, module, dist in _CANDIDATES:
        if forced and name != forced:
            continue
        try:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return name, _dist_version(dist)
        except (ImportError, ValueError):
            continue
    return None


@contextlib.contextmanager
def _quiet_stderr():
    """Silence native INFO lines ("Created TensorFlow Lite XNNPACK delegate")
    that interpreters print on file descriptor 2 while they load a model."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def make_interpreter(model_content: bytes, threads: int | None = None, backend: Backend | None = None,
                     xnnpack: bool = True, reference: bool = False):
    """An allocated interpreter for ``model_content``.

    Args:
        threads: CPU threads (None: the interpreter's default).
        xnnpack: False disables the default XNNPACK delegate (benchmarks).
        reference: TFLite's reference kernels (``BUILTIN_REF``, the code
            TFLite for Microcontrollers' kernels come from), no delegate.
    """
    backend = backend or find_backend()
    kwargs = {"model_content": model_content}
    if threads:
        kwargs["num_threads"] = int(threads)
    if not xnnpack or reference:
        resolver = getattr(backend.module, "OpResolverType", None)
        if resolver is None and reference:
            raise ModelError(f"{backend.name} {backend.version} cannot select the reference kernels")
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = (resolver.BUILTIN_REF if reference
                                                       else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    try:
        with _quiet_stderr():
            interp = backend.interpreter_class(**kwargs)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ModelError(f"the interpreter rejected the model: {msg}") from None
    return interp
