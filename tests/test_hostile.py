"""Hostile input and faults: user text printed literally, only regular files read, bounded work
before any output, nothing saved lost, run and data files validated before use, faults named.
Each row of the probe table is a regression test here; malformed run files are also generated."""
import errno
import io as stdio
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from condense_cli.cli import app
from condense_cli.io import save_npz

runner = CliRunner()


def one_line_exit(res, code=2):
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert res.exit_code == code, res.output
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def condense(*args, cwd=None):
    """The installed entry point in a fresh process (usage errors are handled by `main`)."""
    return subprocess.run([sys.executable, "-m", "condense_cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "run.npz"
    res = runner.invoke(app, ["train", "--width", "6", "--steps", "20", "--out", str(path), "-q"])
    assert res.exit_code == 0, res.output
    return path


# ----------------------------------------------------------------------------- markup, files


@pytest.mark.parametrize("name", ["[/x].npz", "[bold red]FAKE[/].npz"])
def test_markup_in_a_path_prints_literally(tmp_path, name):
    line = one_line_exit(runner.invoke(app, ["analyze", str(tmp_path / name)]))
    assert name in line and "does not exist" in line


def test_markup_in_usage_errors_prints_literally():
    for args, text in ((["[/x]"], "[/x]"), (["train", "--optimizer", "[/x]"], "[/x]")):
        res = condense(*args)
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        assert res.returncode == 2 and len(lines) == 1 and text in lines[0] and "Traceback" not in res.stderr


def test_only_regular_files_are_read(tmp_path):
    (tmp_path / "z.npz").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "f.npz")
    for name, what in (("z.npz", "not a regular file"), ("f.npz", "not a regular file")):
        assert what in one_line_exit(runner.invoke(app, ["analyze", str(tmp_path / name)]))
    assert "holds no checkpoint" in one_line_exit(runner.invoke(app, ["analyze", str(tmp_path)]))  # a folder: of checkpoints
    os.mkfifo(tmp_path / "d.csv")
    line = one_line_exit(runner.invoke(app, ["train", "--data", str(tmp_path / "d.csv"), "--out",
                                             str(tmp_path / "o.npz"), "-q"]))
    assert "not a regular file" in line


# ----------------------------------------------------------------------------- bounded work


@pytest.mark.parametrize("args,match", [
    (["train", "--act", "tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(x**7))))))))))))"],
     "nests functions 12 deep"),
    (["train", "--width", "1000000000"], "more than the"),
    (["train", "--n", "1000000000"], "more than the"),
    (["train", "--steps", "100000000000000000000"], "--steps must be at most"),
    (["train", "--depth", "100000"], "at most 64 hidden layers"),
    (["train", "--widths", "5,,5"], "an empty item"),
    (["reduce", "RUN", "--finetune-steps", "100000000000000"], "--finetune-steps must be at most"),
    (["train", "--arch", "transformer", "--data", "anchors", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["reduce", "RUN", "--loss-tol", "-0.1"], "--loss-tol must be a relative loss change of at least 0"),
    (["reduce", "RUN", "--loss-tol", "nan"], "--loss-tol must be a relative loss change of at least 0"),
    (["phase-diagram", "--gammas", "0:1:1e-12"], "1,000,000,000,001 values"),
    (["phase-diagram", "--gammas", "1e300"], "within ±20"),
    (["phase-diagram", "--loss-tol", "nan"], "--loss-tol must be"),
])
def test_impossible_sizes_are_refused_before_any_work(tmp_path, tiny_run, args, match):
    args = [str(tiny_run) if a == "RUN" else a for a in args]
    out = ["--out", str(tmp_path / "o.npz")] if args[0] in ("train", "reduce") else ["--out-dir", str(tmp_path / "p")]
    line = one_line_exit(runner.invoke(app, [*args, *out, "-q"]))
    assert match in line
    assert not (tmp_path / "o.npz").exists()


def test_more_snapshots_than_steps_records_every_step(tmp_path):
    res = runner.invoke(app, ["train", "--width", "4", "--steps", "30", "--snapshots", "1000000000",
                              "--out", str(tmp_path / "s.npz"), "-q", "--json"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "s.npz") as f:
        assert list(f["step"]) == list(range(31))


# ----------------------------------------------------------------------------- nothing saved is lost


def test_train_and_reduce_never_replace_a_file_unasked(tmp_path, tiny_run):
    good = tmp_path / "good.npz"
    good.write_bytes(tiny_run.read_bytes())
    before = good.read_bytes()
    line = one_line_exit(runner.invoke(app, ["train", "--width", "4", "--steps", "5", "--out", str(good), "-q"]))
    assert "exists; pass --force" in line and good.read_bytes() == before
    line = one_line_exit(runner.invoke(app, ["reduce", str(good), "--out", str(good)]))
    assert "never overwrites its input" in line and good.read_bytes() == before
    (tmp_path / "link.npz").symlink_to(good)
    line = one_line_exit(runner.invoke(app, ["reduce", str(tmp_path / "link.npz"), "--out", str(good), "--force"]))
    assert "never overwrites its input" in line and good.read_bytes() == before
    res = runner.invoke(app, ["train", "--width", "4", "--steps", "5", "--out", str(good), "-q", "--force"])
    assert res.exit_code == 0 and good.read_bytes() != before


def test_a_failed_run_is_written_beside_its_target(tmp_path, tiny_run):
    good = tmp_path / "good.npz"
    good.write_bytes(tiny_run.read_bytes())
    before = good.read_bytes()
    res = runner.invoke(app, ["train", "--width", "4", "--steps", "50", "--lr", "1e30", "--optimizer", "gd",
                              "--out", str(good), "-q", "--force"])
    line = one_line_exit(res, 1)
    partial = tmp_path / "good.partial.npz"
    assert str(partial) in line and "untouched" in line
    assert good.read_bytes() == before and partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz", "good.partial.npz"]  # no temp file


def test_stale_temp_files_of_a_killed_write_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.npz.{dead.pid}.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    mine = tmp_path / f".out.npz.{os.getpid()}.live.tmp"  # a live writer's file stays
    mine.write_bytes(b"y")
    save_npz(tmp_path / "out.npz", {"a": np.zeros(3)}, {"schema": "t"})
    assert not stale.exists() and mine.exists() and (tmp_path / "out.npz").exists()


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_npz(tmp_path / "m.npz", {"a": np.zeros(2)}, {})
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644


PHASE = ["phase-diagram", "--widths", "20,40", "--gammas", "0.5", "--gamma-primes", "0", "--max-steps", "200",
         "--no-figures", "-q"]


def test_a_second_sweep_into_a_folder_in_use_is_refused(tmp_path):
    out = tmp_path / "ph"
    out.mkdir()
    (out / ".condense-sweep.lock").write_text(str(os.getppid()))  # a live process holds it
    line = one_line_exit(runner.invoke(app, [*PHASE, "--out-dir", str(out)]))
    assert "another sweep" in line and str(os.getppid()) in line
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".condense-sweep.lock").write_text(str(dead.pid))  # its process is gone: taken over
    res = runner.invoke(app, [*PHASE, "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    assert not (out / ".condense-sweep.lock").exists()
    # another configuration into the same folder says so instead of mixing or replacing
    before = (out / "phase.npz").read_bytes()
    line = one_line_exit(runner.invoke(app, [*PHASE[:4], "1", *PHASE[5:], "--out-dir", str(out)]))
    assert "another configuration" in line and "--fresh" in line
    assert (out / "phase.npz").read_bytes() == before


def test_two_concurrent_sweeps_into_one_folder(tmp_path):
    """A second sweep with another grid, started while the first runs: refused (the lock), or, had
    the first already finished, refused for its configuration; the first's results stand."""
    import time

    out = tmp_path / "both"
    grid = [*PHASE[:1], "--widths", "20,40,80", "--gamma-primes", "0", "--max-steps", "3000", "--no-figures", "-q",
            "--out-dir", str(out)]
    first = subprocess.Popen([sys.executable, "-m", "condense_cli", *grid, "--gammas", "0.5"],
                             stderr=subprocess.PIPE, text=True)
    for _ in range(1200):  # until the first holds the lock
        if (out / ".condense-sweep.lock").exists() or first.poll() is not None:
            break
        time.sleep(0.05)
    second = condense(*grid, "--gammas", "1")
    first.wait(timeout=300)
    assert first.returncode == 0 and (out / "phase.npz").exists()
    lines = [l for l in second.stderr.splitlines() if l.strip()]
    assert second.returncode == 2 and len(lines) == 1
    assert "another sweep" in lines[0] or "another configuration" in lines[0]
    with np.load(out / "phase.npz") as f:
        assert list(f["gamma"]) == [0.5]


# ----------------------------------------------------------------------------- run files


def _patch_zip(data: bytes, local_off: int, central_off: int, value: bytes) -> bytes:
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", local_off), (b"PK\x01\x02", central_off)):
        i = b.find(sig)
        while i != -1:
            b[i + off:i + off + len(value)] = value
            i = b.find(sig, i + 4)
    return bytes(b)


def _raw_npy(header: str, body: bytes = b"") -> bytes:
    """An .npy file with this header dict written as is (padded as numpy pads it) and `body`."""
    import struct

    h = header.encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + body


def _npy_bytes(arr) -> bytes:
    buf = stdio.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _with_member(src, name: str, payload: bytes, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename != name:
                zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr(name, payload)


def _meta_of(path):
    with np.load(path) as f:
        return json.loads(str(f["meta"][()]))


def _with_meta(src, dst, **changes):
    meta = {**_meta_of(src), **changes}
    _with_member(src, "meta.npy", _npy_bytes(np.array(json.dumps(meta))), dst)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


MUTATIONS = {
    "encrypted member": lambda src, dst: dst.write_bytes(_patch_zip(src.read_bytes(), 6, 8, b"\x01\x00")),
    "unknown compression": lambda src, dst: dst.write_bytes(_patch_zip(src.read_bytes(), 8, 10, b"\x63\x00")),
    "raw pickle bytes": lambda src, dst: _with_member(src, "w1.npy", pickle.dumps(Evil()), dst),
    "garbage npy header": lambda src, dst: _with_member(src, "w1.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': ZZZ}\n", dst),
    "22 TiB declared": lambda src, dst: _with_member(
        src, "w1.npy", _raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1000000000000, 6), }"), dst),
    "deep meta": lambda src, dst: _with_member(src, "meta.npy", _npy_bytes(np.array("[" * 100000 + "]" * 100000)), dst),
    "activation an int": lambda src, dst: _with_meta(src, dst, activation=5),
    "alpha a string": lambda src, dst: _with_meta(src, dst, alpha="x"),
    "config a string": lambda src, dst: _with_meta(src, dst, config="s"),
    "multiplicity text": lambda src, dst: _with_meta(src, dst, multiplicity=["x"]),
    "multiplicity negative": lambda src, dst: _with_meta(src, dst, multiplicity=[-5]),
    "timedelta step": lambda src, dst: _with_member(src, "step.npy", _npy_bytes(np.arange(3).astype("m8[s]")), dst),
    "complex weights": lambda src, dst: _with_member(src, "w1.npy", _npy_bytes(np.zeros((1, 3, 6, 6), np.complex64)), dst),
    "object array": lambda src, dst: _with_member(
        src, "a.npy", _raw_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", pickle.dumps([Evil()])), dst),
    "truncated": lambda src, dst: dst.write_bytes(src.read_bytes()[:300]),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_malformed_run_file_is_one_line_exit_2(tmp_path, tiny_run, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.npz"
    MUTATIONS[name](tiny_run, bad)
    line = one_line_exit(runner.invoke(app, ["analyze", str(bad), "--no-figures"]))
    assert "internal error" not in line
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "bad_analysis.npz").exists()


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, tiny_run):
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(tiny_run) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        header = _raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (300, 1000000), }")
        with zout.open("x_test.npy", "w", force_zip64=True) as f:
            f.write(header)
            chunk = bytes(1 << 20)
            for _ in range(1200):
                f.write(chunk)
    assert bomb.stat().st_size < 5 << 20
    line = one_line_exit(runner.invoke(app, ["analyze", str(bomb), "--no-figures"]))
    assert "decompression bomb" in line


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["x", "y", "loss", "step", "w1", "a", "meta", "extra"]),
       dtype=st.sampled_from(["<f4", "<i8", "<c8", "|b1", "<m8[s]", "<U3", "|S2", "<M8[D]"]),
       shape=st.lists(st.integers(0, 4), min_size=0, max_size=5),
       drop=st.booleans(), meta=st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                          st.dictionaries(st.sampled_from(["schema", "activation", "alpha",
                                                                           "multiplicity", "config", "seeds"]),
                                                          st.one_of(st.integers(), st.text(max_size=4), st.none(),
                                                                    st.lists(st.integers(-3, 3), max_size=2)))))
def test_generated_malformed_run_files(tmp_path, tiny_run, key, dtype, shape, drop, meta):
    """One member replaced (any dtype, any shape) or dropped, or the meta replaced by arbitrary JSON:
    the file is refused in one line with exit 2, or, when what was generated happens to be a valid
    run, analyzed (exit 0); never a traceback, never an internal error."""
    bad = tmp_path / "gen.npz"
    if key == "meta" and meta is not None:
        payload = _npy_bytes(np.array(json.dumps(meta)))
    else:
        payload = _npy_bytes(np.zeros(tuple(shape), np.dtype(dtype)))
    with zipfile.ZipFile(tiny_run) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            if info.filename != f"{key}.npy":
                zout.writestr(info.filename, zin.read(info.filename))
        if not drop:
            zout.writestr(f"{key}.npy", payload)
    res = runner.invoke(app, ["analyze", str(bad), "--no-figures", "-q", "--out-dir", str(tmp_path / "o")])
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    if res.exit_code != 0:
        one_line_exit(res, 2)


# ----------------------------------------------------------------------------- data files and faults


def test_data_files_real_numbers_only_and_a_header_holds_no_number(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.zeros((5, 1), np.complex128), y=np.zeros(5))
    line = one_line_exit(runner.invoke(app, ["train", "--data", str(tmp_path / "c.npz"), "--out", str(tmp_path / "o.npz")]))
    assert "real numbers" in line and "complex" in line
    (tmp_path / "hex.csv").write_text("0x10,2,3\n1,2,3\n4,5,6\n")
    line = one_line_exit(runner.invoke(app, ["train", "--data", str(tmp_path / "hex.csv"), "--out", str(tmp_path / "o.npz")]))
    assert "row 1" in line and "0x10" in line
    (tmp_path / "h.csv").write_text("a,b\n" + "".join(f"{i / 10},{i / 5}\n" for i in range(10)))
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "h.csv"), "--width", "4", "--steps", "5",
                              "--out", str(tmp_path / "o.npz")])
    assert res.exit_code == 0 and "'a,b'" in res.stderr and "read as a header" in res.stderr


def test_a_file_name_too_long_is_one_line(tmp_path):
    line = one_line_exit(runner.invoke(app, ["train", "--out", str(tmp_path / ("r" * 300 + ".npz")), "-q"]))
    assert "file name too long" in line


def test_a_full_disk_is_named_and_leaves_no_partial_outputs(tmp_path, tiny_run, monkeypatch):
    from condense_cli import io

    run = tmp_path / "r.npz"
    run.write_bytes(tiny_run.read_bytes())
    real, calls = io.atomic_write, []

    def full(path, mode, write):
        calls.append(path)
        if len(calls) == 3:  # the third output finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, mode, write)

    monkeypatch.setattr(io, "atomic_write", full)
    line = one_line_exit(runner.invoke(app, ["analyze", str(run), "-q"]), 1)
    assert "no space left on the device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]  # the two figures written are gone again


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs, where this test may mount one (root in a container that allows it)."""
    where = tmp_path / "disk"
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", str(where)], capture_output=True)


def test_a_really_full_disk(small_disk, tiny_run):
    run = small_disk / "r.npz"
    run.write_bytes(tiny_run.read_bytes())
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(bytes(max(free - 60_000, 0)))  # room for a figure or two, not for all
    line = one_line_exit(runner.invoke(app, ["analyze", str(run), "-q"]), 1)
    assert "no space left on the device" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "r.npz"]  # no partial outputs, no temp files


def test_a_really_full_disk_for_a_run(small_disk, tmp_path):
    """`train` writes its data into the run file's temp file while it trains; on a disk without
    room for it, that write and the ordinary one after it fail: one line, and no file left."""
    data = tmp_path / "big.csv"
    np.savetxt(data, np.random.default_rng(0).random((4000, 9)), delimiter=",")  # x and y: 288 KB in the run file
    line = one_line_exit(runner.invoke(app, ["train", "--data", str(data), "--width", "4", "--steps", "3", "-q",
                                             "--out", str(small_disk / "run.npz")]), 1)
    assert "no space left on the device" in line
    assert list(small_disk.iterdir()) == []
