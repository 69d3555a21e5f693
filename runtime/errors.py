"""Every error a user can meet, and the one map of exit codes that every
command uses (``fer-infer``, ``python -m train``, ``python -m convert.quantize``,
``python -m convert.firmware``, ``python -m benchmarks.accuracy``, the lab's
commands). Each error carries its code; :func:`run_command` is the one edge
that catches them, prints one line and returns the code.

====  ===========================================================================
code  meaning
====  ===========================================================================
0     done
1     some inputs failed (``fer-infer`` on several inputs: each failure on its
      own line, the others processed); a video that cannot be decoded
2     usage: a bad flag or config value, a model or detector file that is
      missing, not TFLite or breaks the I/O contract
3     data: missing, malformed or inconsistent data, an image the command needed
4     a check failed: the accuracy gate of a conversion, a model TFLM cannot run
5     an output cannot be written (nothing half-written is left behind)
6     a peer of a multi-worker training run cannot be reached or stopped answering
130   interrupted (Ctrl-C)
====  ===========================================================================

This module is part of the on-device runtime, so it imports nothing.
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_CHECK, EXIT_OUTPUT, EXIT_PEER = 0, 1, 2, 3, 4, 5, 6
EXIT_INTERRUPTED = 130


class FerError(Exception):
    """Base class: a one-line message for the user and the command's exit code."""

    exit_code = EXIT_SOME_FAILED


class ConfigError(FerError):
    """A bad flag or config value."""

    exit_code = EXIT_USAGE


class ModelError(FerError):
    """A model file that is missing, not TFLite or Keras, or breaks the I/O contract."""

    exit_code = EXIT_USAGE


class DetectorError(FerError):
    """No face detector available, or a broken one."""

    exit_code = EXIT_USAGE


class ImageError(FerError):
    """An input that is not a usable image (corrupt, too large, unreadable).
    ``fer-infer`` reports it on the input's line and goes on (exit 1 at the end)."""

    exit_code = EXIT_SOME_FAILED


class DataError(FerError):
    """The data is missing, malformed or inconsistent."""

    exit_code = EXIT_DATA


class CheckError(FerError):
    """A check the command exists for failed (an accuracy gate, a model TFLM cannot run)."""

    exit_code = EXIT_CHECK


class OutputError(FerError):
    """An output cannot be written (unwritable folder, full disk, read-only file
    system). Nothing half-written is left behind."""

    exit_code = EXIT_OUTPUT


class PeerError(FerError):
    """A peer of a multi-worker run cannot be reached, or stopped answering."""

    exit_code = EXIT_PEER


def run_command(body, prog: str = "error", interrupted: str = "interrupted", extra: str = "") -> int:
    """Run a command's ``body()`` (which returns its exit code, or anything else for 0) at
    the CLI edge: a :class:`FerError` prints ``prog: message`` on one line and
    returns its code; an image error of a command that needs every input is a
    data error (3); a missing optional package names the extra that brings it
    (``extra``); an unwritable path is 5; Ctrl-C is 130. Anything else is a bug
    and propagates with its traceback."""
    try:
        code = body()
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImageError as e:
        return _fail(prog, str(e), EXIT_DATA)
    except FerError as e:
        return _fail(prog, str(e), e.exit_code)
    except ModuleNotFoundError as e:
        if not extra:
            raise
        return _fail(prog, f"{e.name} is missing; install the {extra} extra: pip install '.[{extra}]'", EXIT_USAGE)
    except OSError as e:              # e.g. a run folder that cannot be created
        return _fail(prog, f"cannot write{' ' + str(e.filename) if e.filename else ''}: {e.strerror or e}",
                     EXIT_OUTPUT)
    return code if isinstance(code, int) and not isinstance(code, bool) else EXIT_OK


def _fail(prog: str, msg: str, code: int) -> int:
    print(f"{prog}: {msg}", file=sys.stderr)
    return code
