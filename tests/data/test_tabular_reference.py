"""The vectorized preprocessing gives what the row-by-row code before it gave (issue 13).

`fixtures/tabular_reference.npz` was written by `make_tabular_reference.py` on the
commit before the rewrite; every split, the fitted statistics, the encoded names and the
`transform` of new rows (unseen levels, `2` vs `2.0`, gaps) must agree to 1e-6.
"""

import numpy as np
import pytest

from fivestep.data.tabular import TabularDataModule
from tests.data.make_tabular_reference import CASES, HERE, new_rows

REFERENCE = np.load(HERE / "fixtures" / "tabular_reference.npz")


@pytest.mark.parametrize("name", list(CASES))
def test_matches_the_row_by_row_preprocessing(name):
    dm = TabularDataModule(**CASES[name])
    dm.setup()
    st = dm.state_dict()
    assert st["feature_names"] == REFERENCE[f"{name}/feature_names"].tolist()
    if f"{name}/label_names" in REFERENCE:
        assert st["label_names"] == REFERENCE[f"{name}/label_names"].tolist()
    for key in ("median", "shift", "scale"):
        np.testing.assert_allclose(st[key].numpy(), REFERENCE[f"{name}/{key}"], rtol=1e-6,
                                   atol=1e-6)
    for split in ("train", "val", "test"):
        x, y = dm.splits[split]
        np.testing.assert_allclose(x.numpy(), REFERENCE[f"{name}/{split}/x"], rtol=1e-6,
                                   atol=1e-6)
        np.testing.assert_allclose(y.numpy(), REFERENCE[f"{name}/{split}/y"], rtol=1e-6,
                                   atol=1e-6)
        assert y.numpy().dtype == REFERENCE[f"{name}/{split}/y"].dtype
    # "all" is ordered by split now; source_rows maps it back to the file's order
    x_all = dm.splits["all"][0].numpy()
    np.testing.assert_allclose(x_all, REFERENCE[f"{name}/all/x"][dm.source_rows], rtol=1e-6,
                               atol=1e-6)
    if f"{name}/new_rows" in REFERENCE:
        np.testing.assert_allclose(dm.transform(new_rows()).numpy(),
                                   REFERENCE[f"{name}/new_rows"], rtol=1e-6, atol=1e-6)


def test_the_reference_covers_the_edge_cases():
    """What the fixture holds, so the comparison above cannot pass vacuously."""
    rows = REFERENCE["edge/new_rows"]
    names = REFERENCE["edge/feature_names"].tolist()
    grade = [names.index(f"grade={g}") for g in (1, 2, 3)]
    assert rows[0, grade].tolist() == [0, 1, 0]  # int 2 matches the float level 2.0
    assert rows[1, grade].tolist() == [0, 0, 0]  # unseen level 7
    city = [i for i, n in enumerate(names) if n.startswith("city=")]
    assert rows[1, city].tolist() == [0, 0, 0] and rows[2, city].tolist() == [0, 0, 0]
    assert not np.isnan(rows).any()  # gaps imputed
    assert np.isnan(REFERENCE["csv_example/median"]).sum() == 0
