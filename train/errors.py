"""Errors a user can meet in the training stage (caught once at the CLI edge)."""


class DataError(Exception):
    """The dataset is missing, malformed or inconsistent. Exit code 3."""

    exit_code = 3


class ConfigError(Exception):
    """A bad config value or flag. Exit code 2."""

    exit_code = 2


class OutputError(Exception):
    """An output cannot be written (unwritable folder, full disk, read-only file
    system). Nothing half-written is left behind. Exit code 5."""

    exit_code = 5
