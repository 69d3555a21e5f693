"""PNG plots (matplotlib, Agg): learning curves, confusion matrices, reliability
diagrams, accuracy against latency."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.contract import LABELS

from .io import atomic_path


def _plt():
    import matplotlib  # deferred: matplotlib is heavy and only needed for plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy and only needed for plots

    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def history(rows: list[dict], path: Path, title: str = "") -> None:
    plt = _plt()
    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].plot(ep, [r["accuracy"] for r in rows], "o-", label="training (augmented)")
    ax[0].plot(ep, [r["val_accuracy"] for r in rows], "o-", label="validation")
    ax[0].set_title("accuracy")
    ax[1].plot(ep, [r["loss"] for r in rows], "o-", label="training (augmented)")
    ax[1].plot(ep, [r["val_loss"] for r in rows], "o-", label="validation")
    ax[1].set_title("loss")
    for a in ax:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
        a.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)


def confusion(cm, path: Path, title: str) -> None:
    """Counts and row-normalized side by side."""
    plt = _plt()
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(1, 2, figsize=(12, 5))
    for a, m, fmt, sub in ((ax[0], cm, "d", "counts"), (ax[1], norm, ".2f", "normalized by true class")):
        a.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(m)):
            for j in range(len(m)):
                a.text(j, i, format(m[i, j], fmt), ha="center", va="center", fontsize=8,
                       color="white" if norm[i, j] > 0.5 else "black")
        a.set_xticks(range(len(LABELS)), LABELS, rotation=45)
        a.set_yticks(range(len(LABELS)), LABELS)
        a.set_xlabel("predicted")
        a.set_ylabel("true")
        a.set_title(sub)
    fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)


def reliability(bins: dict, path: Path, title: str) -> None:
    """Accuracy against confidence per bin, with the diagonal and the bin counts."""
    plt = _plt()
    edges = np.asarray(bins["edges"])
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    count = np.asarray(bins["count"])
    acc = np.where(count > 0, bins["accuracy"], np.nan)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax[0].bar(centers, np.nan_to_num(acc), width=width * 0.95, edgecolor="k", alpha=0.8, label="accuracy")
    ax[0].plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax[0].set_xlabel("confidence (top-1 probability)")
    ax[0].set_ylabel("accuracy")
    ax[0].set_xlim(0, 1)
    ax[0].set_ylim(0, 1)
    ax[0].legend(loc="upper left")
    ax[1].bar(centers, count, width=width * 0.95)
    ax[1].set_xlabel("confidence")
    ax[1].set_title("images per bin")
    fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)


def accuracy_latency(points: list[dict], path: Path, title: str) -> None:
    """One labelled point per model: p50 latency (ms, log scale) against accuracy (%);
    the points no other point beats on both axes are joined (the Pareto frontier)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for p in points:
        ax.scatter(p["latency_ms"], 100 * p["accuracy"], s=40)
        ax.annotate(p["label"], (p["latency_ms"], 100 * p["accuracy"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    front = [p for p in points if not any(q["latency_ms"] <= p["latency_ms"] and q["accuracy"] >= p["accuracy"]
                                          and q is not p and (q["latency_ms"], q["accuracy"]) != (p["latency_ms"],
                                                                                                p["accuracy"])
                                          for q in points)]
    front.sort(key=lambda p: p["latency_ms"])
    if len(front) > 1:
        ax.plot([p["latency_ms"] for p in front], [100 * p["accuracy"] for p in front], "--", color="grey", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("classify one crop, p50 ms (1 thread, log scale)")
    ax.set_ylabel("PrivateTest accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)
