"""The Kotlin core's golden vectors must match what the Python runtime gives now."""

import importlib.util

from .conftest import REPO


def test_goldens_are_fresh(capsys):
    spec = importlib.util.spec_from_file_location("goldens", REPO / "android-sample" / "core" / "goldens.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0, capsys.readouterr().err
