"""Data: the papers' named targets, users' files, and bad files."""
import numpy as np
import pytest

from condense_cli import data
from condense_cli.errors import BadInput


def test_named_datasets_have_the_papers_shapes():
    x, y = data.make("sin5d").x, data.make("sin5d").y
    assert x.shape == (80, 5) and y.shape == (80, 1)
    assert x.min() >= -4 and x.max() <= 2
    np.testing.assert_allclose(y[:, 0], (3.5 * np.sin(5 * x + 1)).sum(1))
    d = data.make("sin1d")
    assert d.x.shape == (40, 1) and d.x[0, 0] == -1 and d.x[-1, 0] == 1.5
    np.testing.assert_allclose(d.y[:, 0], np.sin(3 * d.x[:, 0]) + 0.5 * np.sin(6 * d.x[:, 0]))
    r = data.make("relu-combo", n=5)
    relu = lambda v: np.maximum(v, 0)
    xs = r.x[:, 0]
    np.testing.assert_allclose(r.y[:, 0], -relu(xs) + relu(2 * (xs + 0.3)) - relu(1.5 * (xs - 0.4)) + relu(0.5 * (xs - 0.8)))
    assert data.make("sin3d").x.shape == (80, 3)
    for name in data.NAMED:
        ds = data.make(name, n=7)
        assert ds.x.shape[0] == 7 and np.isfinite(ds.y).all()


def test_data_seed_changes_random_data_only():
    assert not np.array_equal(data.make("sin5d", seed=0).x, data.make("sin5d", seed=1).x)
    assert np.array_equal(data.make("sin5d", seed=3).x, data.make("sin5d", seed=3).x)


def test_user_files_npz_and_csv(tmp_path):
    x = np.linspace(0, 1, 6)
    np.savez(tmp_path / "d.npz", x=x, y=x ** 2)
    ds = data.resolve(str(tmp_path / "d.npz"))
    assert ds.x.shape == (6, 1) and ds.y.shape == (6, 1)
    (tmp_path / "d.csv").write_text("x1,x2,y\n1,2,3\n4,5,6\n")
    ds = data.resolve(str(tmp_path / "d.csv"))
    assert ds.x.tolist() == [[1, 2], [4, 5]] and ds.y.tolist() == [[3], [6]]


@pytest.mark.parametrize("content,match", [
    (b"not a zip", "not an NPZ file"),
    (None, "lacks key.*y"),
    ("pickle", "pickled"),
])
def test_bad_npz_files(tmp_path, content, match):
    p = tmp_path / "bad.npz"
    if content is None:
        np.savez(p, x=np.ones(3))
    elif content == "pickle":
        np.savez(p, x=np.array([{"a": 1}], dtype=object), y=np.ones(1))
    else:
        p.write_bytes(content)
    with pytest.raises(BadInput, match=match):
        data.load_file(p)


def test_bad_csv_and_unknown_names(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("1,2\n3,oops\n")
    with pytest.raises(BadInput, match="comma-separated numbers"):
        data.load_file(p)
    with pytest.raises(BadInput, match="does not exist"):
        data.load_file(tmp_path / "nope.csv")
    with pytest.raises(BadInput, match="unknown data set 'moons'.*sin5d"):
        data.make("moons")
    p2 = tmp_path / "nan.npz"
    np.savez(p2, x=np.array([1.0, np.nan]), y=np.ones(2))
    with pytest.raises(BadInput, match="finite"):
        data.load_file(p2)
