"""Evaluation report of a finished run (filled in below)."""


def write(cfg):
    pass
