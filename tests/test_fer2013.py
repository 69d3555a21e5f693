"""The FER-2013 data layer: both download forms, caching, splits, bad data, real counts."""

import csv

import numpy as np
import pytest

from runtime.contract import LABELS
from train import fer2013
from runtime.errors import DataError


def _write_csv(path, items):
    """fer2013.csv from the image-folder items, in Kaggle's column order."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for rel in sorted(items):
            label, usage, pix = items[rel]
            w.writerow([LABELS.index(label), " ".join(str(int(v)) for v in pix.reshape(-1)), usage])


def _by_pixels(d):
    return sorted((d.images[i].tobytes(), int(d.labels[i]), int(d.usage[i])) for i in range(len(d)))


def test_image_folder_and_csv_give_the_same_arrays(tiny_folder, tmp_path):
    root, items = tiny_folder
    from_folder = fer2013.read_image_folder(root)
    _write_csv(tmp_path / "fer2013.csv", items)
    from_csv = fer2013.read_csv(tmp_path / "fer2013.csv")
    assert len(from_folder) == len(items) == len(from_csv)
    assert _by_pixels(from_folder) == _by_pixels(from_csv)
    for i, name in enumerate(from_folder.names):
        label, usage, pix = items[name]
        assert LABELS[from_folder.labels[i]] == label
        assert fer2013.USAGES[from_folder.usage[i]] == usage
        np.testing.assert_array_equal(from_folder.images[i], pix)


def test_usage_comes_from_the_file_name_prefix(tiny_folder):
    root, items = tiny_folder
    d = fer2013.read_image_folder(root)
    counts = d.counts()
    per = len(items) // 3
    assert counts["Training"]["total"] == counts["PublicTest"]["total"] == counts["PrivateTest"]["total"] == per
    assert len(d.split("PublicTest")) == per


def test_cache_is_keyed_by_the_inputs(tiny_folder, tmp_path):
    root, _ = tiny_folder
    cache = tmp_path / "c"
    a = fer2013.load(root, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1
    b = fer2013.load(root, cache_dir=cache)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.checksum == b.checksum
    # Change one file: a new checksum, a new cache entry, the new pixels.
    f = next((root / "train" / "happy").iterdir())
    from PIL import Image

    Image.fromarray(np.full((48, 48), 7, np.uint8)).save(f)
    c = fer2013.load(root, cache_dir=cache)
    assert c.checksum != a.checksum
    assert len(list(cache.glob("*.npz"))) == 2
    assert (c.images == 7).all(axis=(1, 2)).sum() == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        fer2013.load(tmp_path / "nope")


def test_unknown_class_folder_is_an_error(tiny_folder):
    root, _ = tiny_folder
    (root / "train" / "contempt").mkdir()
    with pytest.raises(DataError, match="unknown class folder 'contempt'"):
        fer2013.read_image_folder(root)


def test_unreadable_image_is_counted_and_reported(tiny_folder):
    root, items = tiny_folder
    (root / "train" / "sad" / "Training_99999.jpg").write_bytes(b"not a jpeg")
    d = fer2013.read_image_folder(root)
    assert len(d) == len(items)
    assert len(d.skipped) == 1 and "Training_99999.jpg" in d.skipped[0]
    with pytest.raises(DataError, match="unreadable"):
        fer2013.read_image_folder(root, strict=True)


def test_wrong_prefix_for_the_folder_is_an_error(tiny_folder):
    root, _ = tiny_folder
    src = next((root / "train" / "sad").iterdir())
    src.rename(root / "train" / "sad" / "PrivateTest_5.png")
    with pytest.raises(DataError, match="PrivateTest file inside train"):
        fer2013.read_image_folder(root)


def test_malformed_csv_rows_are_counted(tmp_path):
    p = tmp_path / "fer2013.csv"
    good = " ".join(["10"] * 2304)
    p.write_text("emotion,pixels,Usage\n"
                 f"3,{good},Training\n"
                 f"9,{good},Training\n"                 # label out of range
                 "2,1 2 3,PublicTest\n"                  # too few pixels
                 f"1,{good},Validation\n"                # unknown usage
                 f"0,{good},PrivateTest\n")
    d = fer2013.read_csv(p)
    assert len(d) == 2 and len(d.skipped) == 3
    with pytest.raises(DataError, match="row 1"):
        fer2013.read_csv(p, strict=True)


def test_csv_with_a_wrong_header(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="header"):
        fer2013.read_csv(p)


def test_balanced_subset_is_seeded_and_disjoint(tiny_folder):
    root, _ = tiny_folder
    d = fer2013.read_image_folder(root)
    tr, va = fer2013.balanced_subset(d, 2, 1, seed=3)
    tr2, _ = fer2013.balanced_subset(d, 2, 1, seed=3)
    assert list(tr.names) == list(tr2.names)
    assert not set(tr.names) & set(va.names)
    assert np.bincount(tr.labels, minlength=7).tolist() == [2] * 7
    assert np.bincount(va.labels, minlength=7).tolist() == [1] * 7


@pytest.mark.data
def test_real_fer2013_counts(fer_root):
    d = fer2013.load(fer_root)
    c = d.counts()
    assert d.skipped == []
    assert c["Training"] == {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "sad": 4830,
                             "surprise": 3171, "neutral": 4965, "total": 28709}
    assert c["PublicTest"]["total"] == 3589 and c["PrivateTest"]["total"] == 3589
    assert c["PublicTest"]["disgust"] == 56 and c["PrivateTest"]["disgust"] == 55


@pytest.mark.data
def test_real_leakage_audit(fer_root):
    from train.audit import audit

    r = audit(fer2013.load(fer_root))["report"]
    assert r["test_duplicates_of_training"] == {"PublicTest": 280, "PrivateTest": 288}
    assert r["clean_sizes"]["PrivateTest"] == 3589 - 288
    assert r["groups_with_conflicting_labels"] == 57


@pytest.mark.data
def test_audit_cli_prints_the_figures(fer_root, capsys):
    from train.audit import main

    assert main(["--data", str(fer_root)]) == 0
    out = capsys.readouterr().out
    assert "PublicTest: 280 images duplicate" in out and "PrivateTest: 288 images duplicate" in out
