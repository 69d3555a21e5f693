"""Coverage-guided fuzzing of the runtime with atheris, for a bounded time.

    python tests/fuzz/run.py --seconds 300            # every target, 300 s each
    python tests/fuzz/run.py --target image --seconds 60

Each target runs in its own process (a crash or a signal ends only that
one), starting from the committed seeds in ``tests/fuzz/seeds/`` (``image``, ``model``)
copied into a scratch corpus. Findings are saved to
``tests/fuzz/findings/<target>/`` (replayed by ``tests/test_fuzz.py`` from
then on). The figures (time, executions, coverage, findings) are written to
``tests/fuzz/results.json`` and into the fuzzing block of docs/security.md.

Exit codes: 0 no findings, 1 findings saved, 2 bad flag or atheris missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = HERE / "results.json"
README = ROOT / "docs" / "security.md"
BEGIN, END = "<!-- fuzz:begin (python tests/fuzz/run.py writes this) -->", "<!-- fuzz:end -->"


def child(target: str, corpus: str, seconds: int, artifacts: str) -> None:
    """Runs inside the fuzzing process."""
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports():
        import PIL.Image  # noqa: F401
        import runtime.classifier  # noqa: F401
        import runtime.metadata  # noqa: F401
        import runtime.preprocess  # noqa: F401
    sys.path.insert(0, str(HERE))
    from targets import TARGETS

    fn = TARGETS[target]
    atheris.Setup([sys.argv[0], corpus, f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/",
                   "-rss_limit_mb=4096", "-timeout=20", "-print_final_stats=1"], fn)
    atheris.Fuzz()


def fuzz(target: str, seconds: int) -> dict:
    sys.path.insert(0, str(HERE))
    from targets import SEEDS

    seeds = HERE / "seeds" / SEEDS[target]
    findings = HERE / "findings" / target
    with tempfile.TemporaryDirectory(prefix=f"fer-fuzz-{target}-") as tmp:
        corpus, artifacts = Path(tmp) / "corpus", Path(tmp) / "artifacts"
        shutil.copytree(seeds, corpus)
        artifacts.mkdir()
        env = dict(os.environ, FER_INTERPRETER=os.environ.get("FER_INTERPRETER", ""))
        proc = subprocess.run([sys.executable, __file__, "--child", target, str(corpus), str(seconds), str(artifacts)],
                              capture_output=True, text=True, env=env, timeout=seconds + 600)
        log = proc.stderr
        found = sorted(artifacts.iterdir())
        if found:
            findings.mkdir(parents=True, exist_ok=True)
            for f in found:
                shutil.copy(f, findings / f.name)
        corpus_size = len(list(corpus.iterdir()))
    runs = re.findall(r"Done (\d+) runs in (\d+) second", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    result = {"target": target, "seconds": seconds, "exit_code": proc.returncode,
              "executions": int(runs[-1][0]) if runs else None,
              "coverage_edges": int(cov[-1][0]) if cov else None,
              "corpus_files": corpus_size, "seeds": len(list(seeds.iterdir())),
              "findings": [f.name for f in found]}
    if found or proc.returncode not in (0,):
        tail = "\n".join(log.splitlines()[-25:])
        result["log_tail"] = tail
        print(tail, file=sys.stderr)
    return result


def readme_block(results: dict) -> str:
    lines = [BEGIN, "",
             f"Last run {results['date']} on {results['host']} (atheris {results['atheris']}, "
             f"`python tests/fuzz/run.py --seconds {results['seconds']}`):", "",
             "| target | what it reads | seconds | executions | coverage edges | findings |",
             "|---|---|---|---|---|---|"]
    what = {"image": "image decoding, modes, EXIF, crop", "metadata": "model checks and metadata zip",
            "model": "model checks, interpreter load, one inference"}
    for r in results["targets"]:
        f = ", ".join(r["findings"]) if r["findings"] else "none"
        lines.append(f"| {r['target']} | {what.get(r['target'], '')} | {r['seconds']} | {r['executions']} "
                     f"| {r['coverage_edges']} | {f} |")
    kept = sorted(f"`{f.parent.name}/{f.name}`" for f in (HERE / "findings").glob("*/*"))
    lines += ["", f"Findings of earlier runs kept as regression tests (`tests/test_fuzz.py`): {len(kept)}"
              + (f" ({', '.join(kept)})." if kept else ".")]
    return "\n".join(lines + ["", END])


def update_readme(results: dict | None = None) -> None:
    """Rewrite the fuzzing block of docs/security.md from ``results`` (default: results.json)."""
    results = results or json.loads(RESULTS.read_text())
    text = README.read_text()
    if BEGIN not in text or END not in text:
        return
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(head + readme_block(results) + tail)
    tmp.replace(README)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--readme"]:
        update_readme()
        return 0
    if argv and argv[0] == "--child":
        child(argv[1], argv[2], int(argv[3]), argv[4])
        return 0
    p = argparse.ArgumentParser(prog="python tests/fuzz/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", action="append", choices=["image", "metadata", "model"])
    p.add_argument("--seconds", type=int, default=300, help="per target")
    args = p.parse_args(argv)
    try:
        import atheris
    except ImportError:
        print("error: atheris is missing: pip install atheris", file=sys.stderr)
        return 2
    targets = args.target or ["image", "metadata", "model"]
    out = []
    for t in targets:
        print(f"fuzzing {t} for {args.seconds} s ...", file=sys.stderr, flush=True)
        r = fuzz(t, args.seconds)
        print(f"  {r['executions']} executions, coverage {r['coverage_edges']}, findings: {r['findings'] or 'none'}",
              file=sys.stderr)
        out.append(r)
    from importlib.metadata import version

    results = {"date": dt.date.today().isoformat(), "host": f"{platform.machine()} ({os.cpu_count()} cores)",
               "atheris": version("atheris"), "seconds": args.seconds, "targets": out}
    if set(targets) == {"image", "metadata", "model"}:
        tmp = RESULTS.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(RESULTS)
        update_readme(results)
    return 1 if any(r["findings"] for r in out) else 0


if __name__ == "__main__":
    sys.exit(main())
