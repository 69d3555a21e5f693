"""FER+ votes: soft labels, majority labels, not-a-face rows."""

import numpy as np
import pytest

from runtime.contract import LABEL_TO_INDEX
from train import ferplus
from train.fer2013 import FerData


def test_labels_from_votes():
    votes = np.array([
        [0, 8, 1, 0, 1, 0, 0, 0, 0, 0],   # happy
        [5, 0, 0, 5, 0, 0, 0, 0, 0, 0],   # tie -> no majority
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face
        [1, 0, 0, 0, 0, 0, 0, 9, 0, 0],   # contempt wins -> no FER label
        [np.nan] * 10,                    # unmapped
    ], dtype=np.float32)
    f = ferplus.labels_from_votes(votes)
    assert f.majority.tolist() == [LABEL_TO_INDEX["happy"], -1, -1, -1, -1]
    assert f.not_face.tolist() == [False, False, True, False, False]
    assert f.mapped.tolist() == [True, True, True, True, False]
    assert f.soft[0, LABEL_TO_INDEX["happy"]] == pytest.approx(0.8)
    assert f.soft[1, LABEL_TO_INDEX["neutral"]] == pytest.approx(0.5)


def test_attach_by_csv_row_and_by_mapping(tmp_path):
    votes = tmp_path / "v.csv"
    votes.write_text("Usage,Image name," + ",".join(ferplus.VOTE_COLUMNS) + "\n"
                     "Training,fer0.png,0,0,0,0,10,0,0,0,0,0\n"
                     "Training,,0,0,0,0,0,0,0,0,0,10\n")
    mapping = tmp_path / "m.csv"
    mapping.write_text("path,fer2013_row\ntrain/angry/Training_1.jpg,0\ntrain/x/Training_2.jpg,\n")
    d = FerData(np.zeros((3, 48, 48), np.uint8), np.zeros(3, np.int64), np.zeros(3, np.int8),
                np.array(["row0", "row1", "row7"]))
    f = ferplus.attach(d, votes)
    assert f.majority.tolist() == [0, -1, -1] and f.not_face.tolist() == [False, True, False]
    assert f.summary()["unmapped"] == 1
    d2 = FerData(d.images[:2], d.labels[:2], d.usage[:2],
                 np.array(["train/angry/Training_1.jpg", "train/x/Training_2.jpg"]))
    f2 = ferplus.attach(d2, votes, mapping)
    assert f2.mapped.tolist() == [True, False]


@pytest.mark.data
def test_real_ferplus(fer_root):
    from train import fer2013

    d = fer2013.load(fer_root)
    fp = fer_root.parent / "ferplus"
    f = ferplus.attach(d, fp / "fer2013new.csv", fp / "fer2013_imagefolder_to_ferplus.csv")
    s = f.summary()
    assert s["mapped"] == 35710 and s["unmapped"] == 177
    m = f.majority >= 0
    agree = (f.majority[m] == d.labels[m]).mean()
    assert 0.6 < agree < 0.7          # FER and FER+ majority agree on about 65%
