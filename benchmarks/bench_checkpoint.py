"""Benchmark `condense analyze` on a GPT-2-small-sized checkpoint (about 124 M parameters).

Writes a safetensors file in the Hugging Face GPT-2 layout (wte, wpe, 12 blocks of ln_1,
attn.c_attn (768, 2304), attn.c_proj, ln_2, mlp.c_fc (768, 3072), mlp.c_proj, the attention-mask
buffer attn.bias, and ln_f) with random N(0, 0.02²) weights, then times `condense analyze` on it
as a whole process (72 layers of neurons: Q, K, V, the attention output and both MLP matrices of
every block, with the heat-map figures) and reads its peak resident memory. Targets: under 3
minutes on 2 cores and under 2 GB.

    python benchmarks/bench_checkpoint.py [--blocks 12] [--no-figures]
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_analyze import condense  # this folder's own helpers (the script's folder is on sys.path)
from bench_train import peak_rss_gib


def gpt2_tensors(blocks: int = 12, d: int = 768, vocab: int = 50257, ctx: int = 1024, seed: int = 0):
    """(name, array) pairs of a GPT-2-shaped state dict, Conv1D weights stored (in, out)."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)

    yield "wte.weight", w(vocab, d)
    yield "wpe.weight", w(ctx, d)
    for i in range(blocks):
        p = f"h.{i}."
        yield p + "ln_1.weight", np.ones(d, np.float32)
        yield p + "ln_1.bias", np.zeros(d, np.float32)
        yield p + "attn.bias", np.tril(np.ones((ctx, ctx), np.float32))[None, None]
        yield p + "attn.c_attn.weight", w(d, 3 * d)
        yield p + "attn.c_attn.bias", w(3 * d)
        yield p + "attn.c_proj.weight", w(d, d)
        yield p + "attn.c_proj.bias", w(d)
        yield p + "ln_2.weight", np.ones(d, np.float32)
        yield p + "ln_2.bias", np.zeros(d, np.float32)
        yield p + "mlp.c_fc.weight", w(d, 4 * d)
        yield p + "mlp.c_fc.bias", w(4 * d)
        yield p + "mlp.c_proj.weight", w(4 * d, d)
        yield p + "mlp.c_proj.bias", w(d)
    yield "ln_f.weight", np.ones(d, np.float32)
    yield "ln_f.bias", np.zeros(d, np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args()
    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gpt2.safetensors"
        tensors = dict(gpt2_tensors(args.blocks))
        params = sum(v.size for k, v in tensors.items() if not k.endswith("attn.bias"))
        save_file(tensors, str(path))
        del tensors
        print(f"GPT-2-shaped checkpoint: {args.blocks} blocks, {params / 1e6:.1f} M parameters "
              f"(+ mask buffers), {path.stat().st_size / 2 ** 20:.0f} MiB")
        cmd = [*condense(), "analyze", str(path), "-q", "--out-dir", tmp] + (["--no-figures"] if args.no_figures else [])
        start = time.perf_counter()
        peak = peak_rss_gib(cmd)
        seconds = time.perf_counter() - start
        out = subprocess.run([*condense(), "analyze", str(path), "-q", "--no-figures", "--json", "--layer",
                              "h.0.attn.c_attn.weight", "--out-dir", tmp], capture_output=True, text=True, check=True)
        print(f"condense analyze (whole process{', no figures' if args.no_figures else ', figures'}): {seconds:.1f} s, "
              f"peak RSS {peak:.2f} GiB (targets: < 180 s, < 2 GB); one block's c_attn alone: "
              f"{len(out.stdout)} bytes of JSON")


if __name__ == "__main__":
    main()
