"""Checkpoints made elsewhere: files written by the `safetensors` package here (no downloads),
planted clusters read back through each layout, sharded models, series over a folder, and hostile
files (pickles, broken headers) refused in one line with nothing written."""
from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from typer.testing import CliRunner

from condense_cli.checkpoints import analyze_checkpoint, open_checkpoint
from condense_cli.checkpoints.formats import natural_key
from condense_cli.checkpoints.layout import plan
from condense_cli.cli import app
from condense_cli.errors import BadInput

runner = CliRunner()


def planted(m: int, d: int, k: int, seed: int = 0, spread: float = 0.05) -> np.ndarray:
    """m rows in R^d around k random centres (angular spread about `spread` rad), norms 0.5-1.5."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((k, d))
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    rows = C[np.arange(m) % k] + spread * rng.standard_normal((m, d)) / np.sqrt(d)
    return (rows * rng.uniform(0.5, 1.5, (m, 1))).astype(np.float32)


def isotropic(m: int, d: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, d)).astype(np.float32)


def c(a):  # safetensors writes the buffer: arrays must be C-contiguous
    return np.ascontiguousarray(a)


@pytest.fixture()
def mlp(tmp_path):
    """A torch-layout MLP: layer 0 (120 neurons, 8 inputs + bias) planted with 3 orientations,
    layer 1 (60 × 120) isotropic, and the same weights in flax layout."""
    W0 = planted(120, 9, 3)
    W1 = isotropic(60, 121)
    torch = {"net.0.weight": c(W0[:, :8]), "net.0.bias": c(W0[:, 8]), "net.2.weight": c(W1[:, :120]),
             "net.2.bias": c(W1[:, 120])}
    flax = {"params.Dense_0.kernel": c(W0[:, :8].T), "params.Dense_0.bias": c(W0[:, 8]),
            "params.Dense_1.kernel": c(W1[:, :120].T), "params.Dense_1.bias": c(W1[:, 120])}
    save_file(torch, str(tmp_path / "torch.safetensors"), metadata={"step": "500"})
    save_file(flax, str(tmp_path / "flax.safetensors"))
    return tmp_path


def test_torch_layout_reads_the_planted_count_and_flax_layout_agrees(mlp):
    t = analyze_checkpoint(mlp / "torch.safetensors")
    assert t.layout == "torch" and "weight" in t.layout_reason
    first, second = t.tensors
    assert (first.name, first.neurons, first.fan_in, first.bias) == ("net.0", 120, 8, "net.0.bias")
    assert first.directions == 3 and first.condensed
    assert not second.condensed  # isotropic rows: the verdict must fail
    f = analyze_checkpoint(mlp / "flax.safetensors", layout="flax")
    assert f.layout == "flax"
    for a, b in zip(t.tensors, f.tensors):
        assert (a.neurons, a.fan_in, a.directions, a.lines, a.condensed) == (b.neurons, b.fan_in, b.directions,
                                                                              b.lines, b.condensed)
        assert a.stable_rank == pytest.approx(b.stable_rank, rel=1e-5)
    # the same flax file read in the wrong convention measures the transposed matrix, and says so
    wrong = analyze_checkpoint(mlp / "flax.safetensors", layout="torch")
    assert wrong.tensors[0].neurons == 8 and wrong.tensors[0].bias is None


def test_gpt2_fused_c_attn_is_split_and_clusters_planted_in_q_are_read_in_q_only(tmp_path):
    d = 48
    rng = np.random.default_rng(3)
    q = planted(d, d + 1, 3, seed=4)
    kv = rng.standard_normal((2 * d, d + 1)).astype(np.float32)
    rows = np.concatenate([q, kv])  # (3d, d + 1): neurons of Q, K, V with their biases
    tensors = {"h.0.attn.c_attn.weight": c(rows[:, :d].T), "h.0.attn.c_attn.bias": c(rows[:, d]),
               "h.0.attn.c_proj.weight": c(rng.standard_normal((d, d)).astype(np.float32)),
               "h.0.mlp.c_fc.weight": c(rng.standard_normal((d, 4 * d)).astype(np.float32)),
               "h.0.ln_1.weight": np.ones(d, np.float32), "wte.weight": c(rng.standard_normal((50, d)).astype(np.float32)),
               "h.0.attn.bias": np.ones((1, 1, 4, 4), np.float32)}
    save_file(tensors, str(tmp_path / "gpt2.safetensors"))
    r = analyze_checkpoint(tmp_path / "gpt2.safetensors")
    assert r.layout == "gpt2"
    names = [t.name for t in r.tensors]
    assert names == ["h.0.attn.c_attn[q]", "h.0.attn.c_attn[k]", "h.0.attn.c_attn[v]", "h.0.attn.c_proj",
                     "h.0.mlp.c_fc"]
    qa, ka, va = r.tensors[:3]
    assert (qa.neurons, qa.fan_in, qa.kind) == (d, d, "attention") and qa.bias == "h.0.attn.c_attn.bias"
    assert qa.condensed and qa.directions == 3
    assert not ka.condensed and not va.condensed
    assert r.tensor("h.0.mlp.c_fc").neurons == 4 * d and r.tensor("h.0.mlp.c_fc").kind == "mlp"
    skipped = dict(r.skipped)
    assert "embedding" in skipped["wte.weight"] and "one-dimensional" in skipped["h.0.ln_1.weight"]
    assert "buffer" in skipped["h.0.attn.bias"]
    only = analyze_checkpoint(tmp_path / "gpt2.safetensors", kinds=("mlp",))
    assert [t.name for t in only.tensors] == ["h.0.mlp.c_fc"]
    named = analyze_checkpoint(tmp_path / "gpt2.safetensors", select=("wte.weight",))
    assert [t.name for t in named.tensors] == ["wte"]  # an embedding is measured when named


def test_half_precision_is_measured_in_float32(mlp, tmp_path):
    import ml_dtypes

    src = open_checkpoint(mlp / "torch.safetensors")
    for dtype, tag in ((np.float16, "f16"), (ml_dtypes.bfloat16, "bf16")):
        save_file({k: c(src.read(k).astype(dtype)) for k in src.tensors}, str(tmp_path / f"{tag}.safetensors"))
        r = analyze_checkpoint(tmp_path / f"{tag}.safetensors")
        assert r.tensors[0].directions == 3 and r.tensors[0].condensed


def test_integer_tensors_are_skipped_with_the_reason(tmp_path):
    save_file({"fc.weight": np.ones((10, 4), np.int8), "g.weight": c(planted(30, 5, 2))}, str(tmp_path / "q.safetensors"))
    r = analyze_checkpoint(tmp_path / "q.safetensors")
    assert [t.name for t in r.tensors] == ["g"]
    assert "quantized or integer" in dict(r.skipped)["fc.weight"]


def test_sharded_model_equals_the_single_file(mlp, tmp_path):
    src = open_checkpoint(mlp / "torch.safetensors")
    parts = {"model-00001-of-00002.safetensors": ["net.0.weight", "net.0.bias"],
             "model-00002-of-00002.safetensors": ["net.2.weight", "net.2.bias"]}
    shard_dir = tmp_path / "sharded"
    shard_dir.mkdir()
    for shard, names in parts.items():
        save_file({n: c(src.read(n)) for n in names}, str(shard_dir / shard))
    index = shard_dir / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0},
                                 "weight_map": {n: s for s, ns in parts.items() for n in ns}}))
    a, b = analyze_checkpoint(mlp / "torch.safetensors"), analyze_checkpoint(index)
    assert b.format == "sharded safetensors"
    assert [t.to_json() | {"measure": None} for t in a.tensors] == [t.to_json() | {"measure": None} for t in b.tensors]
    assert analyze_checkpoint(shard_dir).format == "sharded safetensors"  # the folder of one sharded model
    os.unlink(shard_dir / "model-00002-of-00002.safetensors")
    with pytest.raises(BadInput, match="names shard model-00002-of-00002.safetensors, which does not exist"):
        analyze_checkpoint(index)


def test_a_folder_of_checkpoints_is_a_series_in_step_order(tmp_path):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    rng = np.random.default_rng(0)
    W0 = isotropic(90, 7)
    target = planted(90, 7, 2, seed=5)
    # steps 2, 10 and 100 whose names sort the other way as strings; the weights move from an
    # isotropic draw to two orientations
    for step, share in ((2, 0.0), (10, 0.5), (100, 1.0)):
        W = (1 - share) * W0 / np.linalg.norm(W0, axis=1, keepdims=True) + share * target
        save_file({"fc.weight": c(W[:, :6].astype(np.float32)), "fc.bias": c(W[:, 6].astype(np.float32))},
                  str(folder / f"checkpoint-{step}.safetensors"), metadata={"global_step": str(step)})
    r = analyze_checkpoint(folder)
    s = r.series
    assert s.step.tolist() == [2, 10, 100]
    assert [Path(f).name for f in s.file] == ["checkpoint-2.safetensors", "checkpoint-10.safetensors",
                                              "checkpoint-100.safetensors"]
    assert s.condensed[:, 0].tolist() == [False, True, True] or s.condensed[:, 0].tolist() == [False, False, True]
    assert s.directions[-1, 0] == 2 and r.tensors[0].directions == 2 and r.file.endswith("checkpoint-100.safetensors")
    assert rng is not None


def test_natural_order_of_names():
    names = ["h.10.mlp", "h.2.attn", "h.1.mlp", "h.2.mlp"]
    assert sorted(names, key=natural_key) == ["h.1.mlp", "h.2.attn", "h.2.mlp", "h.10.mlp"]


def test_cli_end_to_end_json_table_and_files(mlp):
    out = mlp / "out"
    res = runner.invoke(app, ["analyze", str(mlp / "torch.safetensors"), "--json", "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["layout"] == "torch" and [t["name"] for t in report["tensors"]] == ["net.0", "net.2"]
    assert report["tensors"][0]["directions"] == 3 and report["metadata"] == {"step": "500"}
    assert sorted(p.name for p in out.iterdir()) == ["torch_analysis.npz", "torch_cosine.png"]
    from condense_cli import analyze_checkpoint as api

    assert api(mlp / "torch.safetensors").to_json()["tensors"] == report["tensors"]


def _refused(args, *fragments, written=()):
    res = runner.invoke(app, ["analyze", *map(str, args)])
    assert res.exit_code == 2, res.output
    lines = [l for l in res.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    for f in fragments:
        assert f in res.output, res.output
    for p in written:
        assert not Path(p).exists()
    return res.output


class _Plant:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # loading this pickle would create a file
        return (open, (self.path, "w"))


@pytest.mark.parametrize("name", ["model.pt", "model.bin", "model.ckpt", "model.safetensors"])
def test_a_pickle_is_refused_unread_and_creates_nothing(tmp_path, name):
    marker = tmp_path / "created_by_unpickling"
    with open(tmp_path / name, "wb") as f:
        pickle.dump({"state_dict": _Plant(str(marker))}, f, protocol=4)
    out = _refused([tmp_path / name], "pickle", written=[marker, tmp_path / "model_analysis.npz"])
    if not name.endswith(".safetensors"):
        assert "safetensors.torch.save_file" in out
    assert not marker.exists()


def _raw_safetensors(path: Path, header: dict, data: bytes) -> None:
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def test_broken_headers_are_refused_in_one_line(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(struct.pack("<Q", 10 ** 9) + b"{}")
    _refused([p], "past the end", written=[tmp_path / "m_analysis.npz"])
    _raw_safetensors(p, {"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}, b"\0" * 32)
    _refused([p], "runs past the end of the file")
    _raw_safetensors(p, {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         "b": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}, b"\0" * 24)
    _refused([p], "overlap")
    _raw_safetensors(p, {"w": {"dtype": "Q4", "shape": [2, 2], "data_offsets": [0, 4]}}, b"\0" * 4)
    _refused([p], "unknown dtype 'Q4'")
    _raw_safetensors(p, {"w": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 16]}}, b"\0" * 16)
    _refused([p], "need 24")
    p.write_bytes(b"\x01\x00")
    _refused([p], "shorter than")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.safetensors"]


def test_other_bad_input(mlp, tmp_path):
    _refused([mlp / "torch.safetensors", "--layer", "net.9.weight"], "--layer net.9.weight matches no tensor")
    _refused([mlp / "torch.safetensors", "--at", "end"], "--at does not apply to a checkpoint")
    res = runner.invoke(app, ["analyze", str(mlp / "torch.safetensors"), "--layout", "keras"])
    assert res.exit_code == 2 and "'keras' is not one of" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused([empty], "holds no checkpoint")
    (empty / "model.pt").write_bytes(b"\x80\x04.")
    _refused([empty], "pickle", "safetensors.torch.save_file")
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a.weight": "missing.safetensors"}}))
    _refused([index], "missing.safetensors, which does not exist")
    index.write_text(json.dumps({"weight_map": {"a.weight": "../torch.safetensors"}}))
    _refused([index], "outside its folder")
    np.savez(tmp_path / "named.npz", **{"w1": planted(30, 4, 2)})
    res = runner.invoke(app, ["analyze", str(tmp_path / "named.npz"), "-q", "--json", "--no-figures"])
    assert res.exit_code == 2 and "no tensor of this checkpoint is a layer" in res.output  # auto cannot orient w1
    res = runner.invoke(app, ["analyze", str(tmp_path / "named.npz"), "-q", "--json", "--no-figures",
                              "--layout", "torch"])
    assert res.exit_code == 0 and json.loads(res.stdout)["tensors"][0]["directions"] == 2


def test_plan_never_guesses_silently():
    from condense_cli.checkpoints.formats import TensorInfo

    def info(name, *shape):
        return TensorInfo(name, shape, "F32", Path("x"))

    p = plan({n: info(n, *s) for n, s in (("conv1.weight", (16, 3, 3, 3)), ("conv1.bias", (16,)),
                                          ("up.conv_transpose.weight", (16, 8, 2, 2)), ("w1", (4, 4)))})
    conv, up = p.layers
    assert (conv.kind, conv.orient, conv.bias) == ("conv", "rows", "conv1.bias")
    assert up.orient == "in-out-first" and "ConvTranspose" in up.convention
    assert "orientation" in dict(p.skipped)["w1"] or "not a torch weight" in dict(p.skipped)["w1"]
    W = np.arange(16 * 8 * 4, dtype=np.float32).reshape(16, 8, 2, 2)
    assert up.matrix(W, None).shape == (8, 64)  # one neuron per output channel


def test_several_files_are_a_series_and_run_files_are_one_at_a_time(tmp_path):
    for step in (5, 50):
        save_file({"fc.weight": c(planted(40, 4, 2, seed=step))}, str(tmp_path / f"s{step}.safetensors"))
    res = runner.invoke(app, ["analyze", str(tmp_path / "s50.safetensors"), str(tmp_path / "s5.safetensors"), "--json",
                              "-q", "--no-figures", "--out-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["series"]["step"] == [5, 50]
    np.savez(tmp_path / "run.npz", meta=np.array("{}"), x=np.zeros((2, 1)))
    _refused([tmp_path / "run.npz", tmp_path / "s5.safetensors"], "one condense run file at a time")


def test_a_bf16_checkpoint_reads_in_a_fresh_process(tmp_path):
    """The checkpoint path imports no JAX, so NumPy must learn bfloat16 from ml_dtypes itself."""
    import subprocess
    import sys

    import ml_dtypes

    save_file({"fc.weight": c(planted(60, 5, 3).astype(ml_dtypes.bfloat16))}, str(tmp_path / "bf.safetensors"))
    out = subprocess.run([sys.executable, "-m", "condense_cli", "analyze", str(tmp_path / "bf.safetensors"), "--json",
                          "-q", "--no-figures"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tensors"][0]["directions"] == 3


def test_conventions_told_by_shape_not_guessed_from_names(tmp_path):
    rng = np.random.default_rng(0)
    d = 16
    tensors = {  # GPTBigCode: c_attn and c_fc are nn.Linear (out, in), with multi-query attention (d + 2·8 rows)
        "h.0.attn.c_attn.weight": c(rng.standard_normal((d + 16, d)).astype(np.float32)),
        "h.0.attn.c_attn.bias": c(rng.standard_normal(d + 16).astype(np.float32)),
        "h.0.mlp.c_fc.weight": c(rng.standard_normal((4 * d, d)).astype(np.float32)),
        "h.0.mlp.c_fc.bias": c(rng.standard_normal(4 * d).astype(np.float32))}
    save_file(tensors, str(tmp_path / "bigcode.safetensors"))
    r = analyze_checkpoint(tmp_path / "bigcode.safetensors")
    assert r.layout == "torch"
    fc = r.tensor("h.0.mlp.c_fc")
    assert (fc.neurons, fc.fan_in, fc.bias) == (4 * d, d, "h.0.mlp.c_fc.bias")
    attn = r.tensor("h.0.attn.c_attn")  # not 3 × the input: measured whole, and said so
    assert attn.neurons == d + 16 and "not split" in attn.convention
    forced = analyze_checkpoint(tmp_path / "bigcode.safetensors", layout="gpt2")  # the wrong convention, asked for
    assert "does not match" in dict(forced.skipped)["h.0.mlp.c_fc.bias"]  # the bias is listed, not dropped silently


def test_flax_attention_kernels_with_heads(tmp_path):
    rng = np.random.default_rng(1)
    q = planted(32, 17, 2)  # 4 heads × 8 dims = 32 neurons over 16 inputs + bias
    tensors = {"attn.query.kernel": c(q[:, :16].T.reshape(16, 4, 8)), "attn.query.bias": c(q[:, 16].reshape(4, 8)),
               "attn.out.kernel": c(rng.standard_normal((4, 8, 16)).astype(np.float32))}
    save_file(tensors, str(tmp_path / "vit.safetensors"))
    r = analyze_checkpoint(tmp_path / "vit.safetensors")
    query, out = r.tensor("attn.query"), r.tensor("attn.out")
    assert (query.kind, query.neurons, query.fan_in, query.bias) == ("attention", 32, 16, "attn.query.bias")
    assert query.directions == 2 and query.condensed
    assert (out.neurons, out.fan_in) == (16, 32)


def test_series_steps_from_names_and_sub_folders(tmp_path):
    a = tmp_path / "dots"
    a.mkdir()
    for step in (100, 1000):
        save_file({"fc.weight": c(planted(30, 4, 2, seed=step))}, str(a / f"ckpt.{step}.safetensors"))
    assert analyze_checkpoint(a).series.step.tolist() == [100, 1000]
    b = tmp_path / "hf"
    for step in (500, 50):
        (b / f"checkpoint-{step}").mkdir(parents=True)
        save_file({"fc.weight": c(planted(30, 4, 2, seed=step))}, str(b / f"checkpoint-{step}" / "adapter_model.safetensors"))
    assert analyze_checkpoint(b).series.step.tolist() == [50, 500]
