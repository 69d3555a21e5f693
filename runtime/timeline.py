"""``fer-infer VIDEO --report report.html``: one self-contained page a video or camera session can be
looked at with. Per track: a thumbnail of the face, its expressions over time as an inline SVG chart (each
label's probability as a line, the label read as a band under it), the share of time in each expression,
and whether it was read against a baseline. No network, no script: the page is HTML and SVG only, images
inline as data URLs, written atomically when the run ends."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .annotate import COLOURS, UNKNOWN
from .baseline import read_mode

#: the chart's size in CSS pixels, and the thumbnail's side
WIDTH, HEIGHT, BAND, THUMB = 720, 160, 14, 96


@dataclass
class Track:
    """What the page shows of one track."""

    source: str
    track: int
    thumbnail: str = ""
    times: list = field(default_factory=list)
    probs: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    modes: list = field(default_factory=list)


def _thumbnail(rgb: np.ndarray, box) -> str:
    """A PNG data URL of the face at ``box`` (x, y, w, h) in the frame ``rgb``, with a margin."""
    x, y, w, h = box
    m = 0.2 * max(w, h)
    H, W = rgb.shape[:2]
    x0, y0 = int(max(0, x - m)), int(max(0, y - m))
    x1, y1 = int(min(W, x + w + m)), int(min(H, y + h + m))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return ""
    im = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    im.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class Timeline:
    """Collects the tracked faces of a run (:meth:`add` a frame) and renders the page (:meth:`html`)."""

    def __init__(self, labels):
        self.labels = list(labels)
        self.tracks: dict[tuple[str, int], Track] = {}

    def add(self, source, time_ms: float, tracked: list[dict], rgb: np.ndarray | None = None) -> None:
        for t in tracked:
            key = (str(source), t["track"])
            tr = self.tracks.get(key)
            if tr is None:
                tr = self.tracks[key] = Track(str(source), t["track"])
            if not tr.thumbnail and rgb is not None:
                tr.thumbnail = _thumbnail(rgb, t["box"])
            tr.times.append(time_ms / 1000.0)
            tr.probs.append([t["probabilities"][l] for l in self.labels])
            tr.labels.append(t["label"])
            tr.modes.append(read_mode(t.get("baseline")))

    def _chart(self, tr: Track) -> str:
        t0, t1 = tr.times[0], tr.times[-1]
        span = max(t1 - t0, 1e-6)
        top = HEIGHT - BAND - 18

        def x(t):
            return 40 + (WIDTH - 50) * (t - t0) / span

        parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
                 f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="expressions of track {tr.track} over time">',
                 f'<rect x="40" y="4" width="{WIDTH - 50}" height="{top - 4}" fill="#fafafa" stroke="#ccc"/>']
        for v in (0.0, 0.5, 1.0):
            yv = top - (top - 4) * v
            parts.append(f'<text x="34" y="{yv + 4:.1f}" font-size="10" text-anchor="end">{v:.1f}</text>')
        probs = np.asarray(tr.probs)
        for j, label in enumerate(self.labels):
            colour = "#%02x%02x%02x" % COLOURS.get(label, UNKNOWN)
            if len(tr.times) == 1:
                yv = top - (top - 4) * probs[0, j]
                parts.append(f'<circle cx="{x(t0):.1f}" cy="{yv:.1f}" r="2" fill="{colour}"/>')
                continue
            pts = " ".join(f"{x(t):.1f},{top - (top - 4) * p:.1f}" for t, p in zip(tr.times, probs[:, j]))
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}">'
                         f'<title>{html.escape(label)}</title></polyline>')
        # the label read, as a band of coloured runs
        ends = tr.times[1:] + [t1 + (span / max(len(tr.times) - 1, 1) if len(tr.times) > 1 else 1.0)]
        for t, e, label in zip(tr.times, ends, tr.labels):
            colour = "#%02x%02x%02x" % COLOURS.get(label, UNKNOWN)
            w = max(x(min(e, t1)) - x(t), 1.0) if len(tr.times) > 1 else WIDTH - 50
            parts.append(f'<rect x="{x(t):.1f}" y="{top + 4}" width="{w:.2f}" height="{BAND}" fill="{colour}">'
                         f'<title>{html.escape(label)} at {t:.2f} s</title></rect>')
        parts.append(f'<text x="40" y="{HEIGHT - 2}" font-size="10">{t0:.1f} s</text>'
                     f'<text x="{WIDTH - 10}" y="{HEIGHT - 2}" font-size="10" text-anchor="end">{t1:.1f} s</text>')
        parts.append("</svg>")
        return "".join(parts)

    def _section(self, tr: Track) -> str:
        n = len(tr.labels)
        shares = {l: tr.labels.count(l) / n for l in self.labels}
        rows = "".join(f"<tr><td>{html.escape(l)}</td><td>{100 * s:.1f}%</td></tr>"
                       for l, s in sorted(shares.items(), key=lambda kv: -kv[1]) if s > 0)
        modes = {m: tr.modes.count(m) for m in dict.fromkeys(tr.modes) if m != "plain"}
        baseline = (", ".join(f"{m}: {c} of {n} frames" for m, c in modes.items()) if modes
                    else f"none of the {n} frames (read plainly)")
        thumb = (f'<img class="thumb" alt="track {tr.track}" width="{THUMB}" src="{tr.thumbnail}">'
                 if tr.thumbnail else "")
        return (f'<section class="track"><h2>{html.escape(tr.source)}: track {tr.track}</h2>{thumb}'
                f'<p>{tr.times[0]:.2f} s to {tr.times[-1]:.2f} s, {n} frames analysed. '
                f'Read against a baseline: {html.escape(baseline)}.</p>{self._chart(tr)}'
                f'<table><tr><th>expression</th><th>share of time</th></tr>{rows}</table></section>')

    def html(self, title: str = "fer-infer report") -> str:
        legend = " ".join(f'<span style="color:#%02x%02x%02x">&#9632; {html.escape(l)}</span>'
                          % COLOURS.get(l, UNKNOWN) for l in self.labels)
        body = "".join(self._section(tr) for tr in self.tracks.values()) or "<p>No face was tracked.</p>"
        return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
                ".thumb{float:left;margin:0 1em 0.5em 0;border:1px solid #ccc}section{clear:both;margin-bottom:2em}"
                "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}</style></head><body>"
                f"<h1>{html.escape(title)}</h1><p>{len(self.tracks)} track(s). Lines: each expression's probability;"
                f" band: the expression read. {legend}</p>{body}</body></html>\n")
