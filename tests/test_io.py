"""Run files: round trip, atomic writing, and every kind of bad file refused with one line."""
import json
import os

import numpy as np
import pytest

from condense_cli import io
from condense_cli import run as runfile
from condense_cli.errors import BadInput


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    from condense_cli import TrainConfig, train

    r = train(TrainConfig(act="xtanh", data="sin1d", n=10, width=6, steps=30, record_every=10, seeds=2))
    path = tmp_path_factory.mktemp("runs") / "run.npz"
    runfile.save_run(path, r)
    return path, r


def test_round_trip_is_exact_and_plain(run_file):
    path, r = run_file
    back = runfile.load_run(path)
    for k, v in r.arrays().items():
        assert np.array_equal(back.arrays()[k], v), k
    assert back.meta["schema"] == "condense.run/3" and back.meta["layers"][0]["kind"] == "dense"
    assert back.meta["config"]["act"] == ["xtanh"] and back.meta["multiplicity"] == [2]
    with np.load(path, allow_pickle=False) as f:  # every entry loads without pickles
        assert sorted(f.files) == ["a", "loss", "loss_step", "meta", "step", "w1", "x", "y"]
        assert f["meta"].shape == () and all(f[k].dtype != object for k in f.files)


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "keep.npz"
    io.save_npz(target, {"v": np.arange(3)}, {"schema": "x/1"})
    before = target.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io, "_add_members", boom)
    with pytest.raises(RuntimeError):
        io.save_npz(target, {"v": np.arange(5)}, {"schema": "x/1"})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.npz"]  # no temp file left behind


def _members(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def test_staged_npz_writes_what_save_npz_writes(tmp_path):
    """The data members written early in a thread, the rest at the end: the same arrays, dtypes
    and meta as one `save_npz`, the user's umask, no temp file left."""
    data = {"x": np.random.default_rng(0).random((3000, 50), dtype=np.float32), "y": np.arange(3000.0)[:, None]}
    rest = {"w1": np.ones((1, 2, 4, 51), np.float32), "step": np.array([0, 7])}
    old = os.umask(0o022)
    try:
        io.save_npz(tmp_path / "plain.npz", {**data, **rest}, {"schema": "x/1"})
        with io.StagedNpz(tmp_path / "staged.npz") as staged:
            staged.begin(data)
            assert [p.name for p in tmp_path.glob(".staged.npz.*.tmp")]  # the temp file beside the target
            got = staged.finish(tmp_path / "staged.npz", {**rest, **data}, {"schema": "x/1"})
    finally:
        os.umask(old)
    assert got == tmp_path / "staged.npz" and got.stat().st_mode & 0o777 == 0o644
    _same(_members(got), _members(tmp_path / "plain.npz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.npz", "staged.npz"]


def test_staged_npz_finishes_under_another_name_or_falls_back(tmp_path):
    data = {"x": np.arange(12.0).reshape(4, 3)}
    with io.StagedNpz(tmp_path / "run.npz") as staged:  # a stopped run: beside its target, same temp file
        staged.begin(data)
        staged.finish(tmp_path / "run.partial.npz", {**data, "a": np.zeros(2)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.partial.npz"]
    changed = {"x": data["x"] + 1}  # not the arrays written early: the whole file written again, right
    with io.StagedNpz(tmp_path / "run.npz") as staged:
        staged.begin(data)
        staged.finish(tmp_path / "run.npz", changed, {})
    assert np.array_equal(_members(tmp_path / "run.npz")["x"], changed["x"])
    with io.StagedNpz(tmp_path / "none.npz") as staged:  # nothing begun: save_npz
        staged.finish(tmp_path / "none.npz", data, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["none.npz", "run.npz", "run.partial.npz"]


def test_staged_npz_leaves_nothing_when_the_work_fails(tmp_path):
    target = tmp_path / "keep.npz"
    io.save_npz(target, {"v": np.arange(3)}, {"schema": "x/1"})
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with io.StagedNpz(target) as staged:
            staged.begin({"x": np.zeros((1000, 100))})
            raise KeyboardInterrupt  # Ctrl-C (or any error) before the run's end
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.npz"]


def test_staged_npz_calls_off_its_write_and_cleans_up_a_failed_start(tmp_path, monkeypatch):
    """Abandoned while it writes (Ctrl-C during training), the background write stops at its
    next piece and the temp file goes; a `begin` that fails half-way leaves nothing either."""
    import threading

    staged = io.StagedNpz(tmp_path / "big.npz")
    staged.begin({"x": np.ones((64, 1 << 20), np.float32)})  # 256 MiB: 16 pieces of 16 MiB
    thread = staged._thread
    staged.abandon()
    assert not thread.is_alive() and list(tmp_path.iterdir()) == []
    assert isinstance(staged._error, io._Cancelled) or staged._error is None  # (or it had already finished)

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        with io.StagedNpz(tmp_path / "r.npz") as staged:
            staged.begin({"x": np.zeros(3)})
    assert list(tmp_path.iterdir()) == []


def test_staged_npz_background_failure_falls_back_to_one_write(tmp_path, monkeypatch):
    """The thread's write fails (a full disk, here its fsync): `finish` writes the whole file
    again the ordinary way, and no temp file is left."""
    real, calls = os.fsync, []

    def flaky(fd):
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", flaky)
    data = {"x": np.arange(6.0)}
    with io.StagedNpz(tmp_path / "r.npz") as staged:
        staged.begin(data)
        staged.finish(tmp_path / "r.npz", {**data, "a": np.ones(2)}, {"k": 1})
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]
    got = _members(tmp_path / "r.npz")
    assert np.array_equal(got["x"], data["x"]) and json.loads(str(got["meta"])) == {"k": 1}


def _rewrite(src, dst, drop=(), meta=None, extra=None):
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k not in drop}
    if meta is not None:
        arrays["meta"] = np.array(json.dumps(meta))
    arrays.update(extra or {})
    np.savez(dst, **arrays)


def test_bad_run_files(run_file, tmp_path):
    path, r = run_file
    cases = {}
    cases["missing"] = (tmp_path / "nope.npz", "does not exist")
    p = tmp_path / "text.npz"; p.write_text("hello")
    cases["not npz"] = (p, "not an NPZ")
    p = tmp_path / "trunc.npz"; p.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    cases["truncated"] = (p, "not an NPZ|truncated|corrupt")
    p = tmp_path / "nokey.npz"; _rewrite(path, p, drop=("w1",))
    cases["lacks key"] = (p, "lacks key.*w1")
    p = tmp_path / "schema.npz"; _rewrite(path, p, meta={**r.meta, "schema": "other.thing/1"})
    cases["schema"] = (p, "schema 'other.thing/1'")
    p = tmp_path / "newer.npz"; _rewrite(path, p, meta={**r.meta, "schema": "condense.run/9"})
    cases["newer"] = (p, "newer than this condense reads")
    p = tmp_path / "pickle.npz"; _rewrite(path, p, extra={"evil": np.array([object()], dtype=object)})
    cases["pickle"] = (p, "pickled objects")
    p = tmp_path / "meta.npz"; _rewrite(path, p, extra={"meta": np.array("{not json")})
    cases["meta"] = (p, "unreadable meta")
    p = tmp_path / "shape.npz"; _rewrite(path, p, extra={"w1": np.zeros((2, 4, 6, 7), np.float32)})
    cases["shape"] = (p, "w1 has shape")
    for p, match in cases.values():
        with pytest.raises(BadInput, match=match):
            runfile.load_run(p)


def test_check_writable(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        io.check_writable(tmp_path / "no" / "run.npz")
    with pytest.raises(BadInput, match="is a directory"):
        io.check_writable(tmp_path)
    ro = tmp_path / "ro"; ro.mkdir(); os.chmod(ro, 0o500)
    # the check asks the OS (os.access), so it follows the OS: root may write into a 0o500 folder
    expected_refusal = not os.access(ro, os.W_OK)
    if expected_refusal:
        with pytest.raises(BadInput, match="not writable"):
            io.check_writable(ro / "run.npz")
    else:
        assert io.check_writable(ro / "run.npz") == ro / "run.npz"
    os.chmod(ro, 0o700)
    # a folder that is a file is refused whoever runs the test
    f = tmp_path / "plain"; f.write_text("x")
    with pytest.raises(BadInput, match="does not exist"):
        io.check_writable(f / "run.npz")
