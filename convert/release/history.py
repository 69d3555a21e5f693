"""The release folder and its history: where the shipped files are, the
records of earlier releases (``records/release/stageN/``), and which committed
model a run started from."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from train import config
from train.io import atomic_write_json, file_sha256
from train.paths import MODELS, RECORDS, REPO, record_dir

FLOAT = "fer_mobilenetv2.keras"
QAT = "fer_mobilenetv2_qat.h5"
INT8 = "fer_mobilenetv2_int8.tflite"


def rerun_folder(release: Path, tmp: Path) -> Path:
    """A run folder assembled from a committed release folder (its float model,
    QAT model and record), so that the release can be converted again."""
    rec = record_dir(release)
    if not (rec / "report.json").is_file() or not (release / FLOAT).is_file():
        raise FileNotFoundError(f"{release} is not a release folder ({FLOAT} and its record's report.json)")
    tmp.mkdir(parents=True, exist_ok=True)
    for f in rec.iterdir():
        if f.is_file():
            shutil.copy2(f, tmp / f.name)
    shutil.copy2(release / FLOAT, tmp / "model.keras")
    shutil.copy2(release / FLOAT.replace(".keras", ".json"), tmp / "model.json")
    if (release / QAT).is_file():
        shutil.copy2(release / QAT, tmp / "qat.h5")
    return tmp


def keep_stage(out: Path, run_cfg: dict, new_model: Path | None = None, log=print) -> dict | None:
    """Move the release in ``out`` (record and card) to ``release/stageN/``
    (the first free N) before another is written there: always when
    ``new_model`` is another model than the released one, and, whatever
    ``new_model``, when the run started from the released model (another
    training cycle; the card then names both commands: ``"stage1"`` in the
    result). Nothing moves when there is no release record or the same model
    is released again."""
    init = Path(run_cfg.get("init", ""))
    current = out / FLOAT
    if not current.is_file() or not (record_dir(out) / "report.json").is_file():
        return None
    digest = file_sha256(current)
    if new_model is not None and new_model.is_file() and file_sha256(new_model) == digest:
        return None
    started = init.suffix == ".keras" and init.is_file() and file_sha256(init) == digest
    if not started and new_model is None:
        return {"stage1": None}
    rec = record_dir(out)
    n = 1
    while (rec / f"stage{n}").exists():
        n += 1
    stage = rec / f"stage{n}"
    tmp = out / ".stage.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for f in rec.iterdir() if rec.is_dir() else []:
        if f.is_file():
            f.rename(tmp / f.name)
    for src, name in ((out / "MODEL_CARD.md", "MODEL_CARD.md"), (out / QAT.replace(".h5", ".json"), "qat.json")):
        if src.is_file():
            shutil.copy2(src, tmp / name)

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "log", "-n1", "--format=%H", "--", f"models/{FLOAT}"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cfg1 = config.load_preset(str(tmp / "config.yaml")).to_dict() if (tmp / "config.yaml").is_file() else None
    # a soup's config.yaml is its last run's: the soup is remade by its own command
    soup1 = json.loads((tmp / "soup.json").read_text()) if (tmp / "soup.json").is_file() else None
    # a model whose head bias train.recipes.prior shifted is remade by that command after the others
    prior1 = json.loads((tmp / "prior.json").read_text()) if (tmp / "prior.json").is_file() else None
    # a blend of runs (train.recipes.blend) is remade by its own command after the runs
    blend1 = json.loads((tmp / "blend.json").read_text()) if (tmp / "blend.json").is_file() else None
    made = soup1 or blend1
    info = {"model": FLOAT, "sha256": digest, "git_commit": commit, "folder": stage.name,
            "command": made.get("command") if made else config.command(cfg1) if cfg1 else None,
            **({"soup": True} if soup1 else {}), **({"prior": prior1.get("command")} if prior1 else {})}
    atomic_write_json(tmp / "STAGE.json", info)
    shutil.rmtree(stage, ignore_errors=True)
    stage.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(stage)
    log(f"the released model (sha256 {digest[:12]}..., commit {commit[:12] or 'unknown'}) kept as {stage}")
    return {"stage1": info if started else None, "replaced": info}


def started_stage(out: Path, run: Path) -> dict | None:
    """For a release converted again: ``{"stage1": ...}`` naming the earlier release its run started from (the
    init checksum of its ``data.json`` is a stage's model), or None (its record names no such stage)."""
    try:
        digest = json.loads((run / "data.json").read_text()).get("init_sha256")
    except (OSError, ValueError):
        return None
    folder = released_stages(out).get(digest or "")
    if folder is None:
        return None
    return {"stage1": json.loads((record_dir(out) / folder / "STAGE.json").read_text())}


def records_of(out: Path, soup: dict) -> dict[str, str]:
    """Where under ``out`` each averaged run's record is kept, by run name: a
    trained run's is the folder whose config.yaml is that run's config, a
    soup's (an earlier soup among the runs) the folder whose soup.json has its
    soup command."""
    found = {}
    records = out / "records" if (out / "records").is_dir() else out
    order = {"release": 0, "candidates": 1}   # a release record first, then a candidate, then any other
    for f in sorted(records.rglob("config.yaml"),
                    key=lambda f: (order.get(f.relative_to(records).parts[0], 2), str(f))):
        if f.parent == record_dir(out):
            continue   # the release's own record
        if (f.parent / "soup.json").is_file():
            # a soup's config.yaml is its last run's, not a run of its own: it is known by its command
            cmd = json.loads((f.parent / "soup.json").read_text()).get("command")
            for i in soup["ingredients"]:
                if i.get("soup") and cmd and i.get("command") == cmd:
                    found.setdefault(Path(i["run"]).name, str(f.parent.relative_to(out)) + "/")
            continue
        cfg = config.load_preset(str(f)).to_dict()
        for i in (i for i in soup["ingredients"] if not i.get("soup")):
            # through the current config class, so fields added since the run have their defaults
            want = {k: v for k, v in config.from_dict(i["config"]).to_dict().items() if k not in ("data", "out")}
            if {k: v for k, v in cfg.items() if k not in ("data", "out")} == want:
                found.setdefault(Path(i["run"]).name, str(f.parent.relative_to(out)) + "/")
    return found


def released_stages(out: Path = MODELS) -> dict[str, str]:
    """sha256 of each earlier release's float model -> its stage folder (``stageN``)."""
    found = {}
    for f in sorted(record_dir(out).glob("stage*/STAGE.json")):
        found[json.loads(f.read_text())["sha256"]] = f.parent.name
    return found


def release_records() -> dict[str, str]:
    """sha256 of every released float model -> its record folder relative to ``models/``
    (``records/release/stageN/``, and ``records/release/`` for the release of now). The release history lives in
    the repository, whatever ``--out`` is, so that the card of a candidate written elsewhere finds it too."""
    rel = str(RECORDS.relative_to(MODELS))
    found = {sha: f"{rel}/release/{st}/" for sha, st in released_stages(MODELS).items()}
    if (MODELS / FLOAT).is_file():
        found.setdefault(file_sha256(MODELS / FLOAT), f"{rel}/release/")
    # the micro tier's releases, which its blends start from
    found.update({sha: f"{rel}/micro/{st}/" for sha, st in released_stages(MODELS / "micro").items()
                  if sha not in found})
    if (MODELS / "micro" / FLOAT).is_file():
        found.setdefault(file_sha256(MODELS / "micro" / FLOAT), f"{rel}/micro/")
    return found


def repo_relative(p: Path) -> str:
    """``p`` relative to the repository when it lies inside it, else as given (resolved)."""
    p = p.resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def released_init(init: str) -> str | None:
    """``models/...`` path of the committed Keras model a run started from
    (same sha256), or None."""
    p = Path(init)
    if p.suffix != ".keras" or not p.is_file():
        return None
    digest = file_sha256(p)
    for m in sorted(MODELS.rglob("*.keras")):
        if file_sha256(m) == digest:
            return str(m.relative_to(REPO))
    return None
