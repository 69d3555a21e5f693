"""Errors a user can meet in the training stage (caught once at the CLI edge)."""


class DataError(Exception):
    """The dataset is missing, malformed or inconsistent. Exit code 3."""

    exit_code = 3


class ConfigError(Exception):
    """A bad config value or flag. Exit code 2."""

    exit_code = 2


class ModelError(Exception):
    """A model file is missing, unreadable or breaks the I/O contract. Exit code 2."""

    exit_code = 2


class PeerError(Exception):
    """A peer of a multi-worker run cannot be reached, or stopped answering. Exit code 6."""

    exit_code = 6


class OutputError(Exception):
    """An output cannot be written (unwritable folder, full disk, read-only file
    system). Nothing half-written is left behind. Exit code 5."""

    exit_code = 5


def cli_error(e: BaseException) -> int | None:
    """For an expected failure of a training command: print its one-line
    message and return its exit code. None for anything else (re-raise it)."""
    import sys

    from runtime.errors import FerError

    if isinstance(e, (ConfigError, DataError, ModelError, OutputError, PeerError)):
        msg, code = str(e), e.exit_code
    elif isinstance(e, FerError):      # the runtime's face path: a detector or model problem (2), else data (3)
        msg, code = str(e), e.exit_code if e.exit_code != 1 else 3
    elif isinstance(e, ModuleNotFoundError):
        msg, code = f"{e.name} is missing; install the training extra: pip install '.[train]'", 2
    elif isinstance(e, OSError):      # e.g. the run folder cannot be created
        msg, code = f"cannot write{' ' + str(e.filename) if e.filename else ''}: {e.strerror or e}", 5
    else:
        return None
    print(f"error: {msg}", file=sys.stderr)
    return code


def run_cli(body, interrupted: str = "interrupted; continue with --resume") -> int:
    """Run a training command's ``body()``: 0 when it returns, the exit code of
    an expected failure (one line, :func:`cli_error`), 130 on Ctrl-C;
    anything else propagates."""
    import sys

    try:
        body()
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except Exception as e:
        code = cli_error(e)
        if code is None:
            raise
        return code
    return 0
