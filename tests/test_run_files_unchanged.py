"""The run files of a fixed set of configurations (the dense default, three seeds with an early
stop, minibatch SGD, the digits CNN, a two-seed transformer) are the same, array for array, as
the ones recorded in `tests/data/run_fingerprints.json`: a change that alters what `train` computes
or writes fails here and has to be recorded on purpose:

    python tests/test_run_files_unchanged.py --write

Floating-point results depend on the machine (CPU model and features, caches, cores) and the
library versions, so the comparison runs only where they equal the recorded ones and is skipped,
saying why, elsewhere."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECORDED = Path(__file__).parent / "data" / "run_fingerprints.json"
VOLATILE = ("seconds", "timings", "version")  # meta that differs from run to run, or by release


def machine() -> dict:
    """What the bits of a run depend on besides the code."""
    import platform

    import flax
    import jax
    import jaxlib
    import numpy
    import optax

    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            if key.strip() == "flags" and not flags:
                flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            caches.append(" ".join((index / f).read_text().strip() for f in ("level", "type", "size")))
        except OSError:
            pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"arch": platform.machine(), "cpu": model, "cpu_flags": hashlib.sha256(flags.encode()).hexdigest()[:16],
            "caches": caches, "cores": cores, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "numpy": numpy.__version__, "flax": flax.__version__, "optax": optax.__version__}


def fingerprint(path: Path) -> dict:
    """{member: "dtype shape sha256-of-its-bytes"} and the meta without its volatile keys."""
    import numpy as np

    out = {}
    with np.load(path, allow_pickle=False) as f:
        for k in sorted(f.files):
            v = f[k]
            if k == "meta":
                meta = json.loads(str(v))
                out[k] = {m: meta[m] for m in sorted(meta) if m not in VOLATILE}
            else:
                out[k] = f"{v.dtype.str} {v.shape} {hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}"
    return out


def record(folder: Path) -> dict:
    """Train every configuration, write its run file into `folder` (the dense ones as `condense
    train` writes them: their data staged while they train), return the fingerprints."""
    from condense_cli.io import StagedNpz
    from condense_cli.run import save_run
    from condense_cli.training import TrainConfig, train
    from condense_cli.transformer.runfile import save_transformer_run
    from condense_cli.transformer.training import TransformerConfig, train_transformer

    dense = {
        "dense default": TrainConfig(),
        "three seeds, early stop": TrainConfig(steps=20000, seeds=3, stop_at_loss_ratio=0.5),
        "minibatch SGD": TrainConfig(steps=2000, batch_size=10, n=40, act="relu", gamma=4),
        "digits CNN": TrainConfig(steps=300, data="digits", arch="cnn", width=32, batch_size=64, loss="ce",
                                  act="tanh"),
    }
    runs = {}
    for name, config in dense.items():
        path = folder / f"{len(runs)}.npz"
        with StagedNpz(path) as staged:
            save_run(path, train(config, on_data=staged.begin), staged)
        runs[name] = fingerprint(path)
    path = folder / "transformer.npz"
    save_transformer_run(path, train_transformer(TransformerConfig(steps=200, n=3000, seeds=2, record_every=50)))
    runs["transformer, two seeds"] = fingerprint(path)
    return runs


def _fresh_process(folder: Path) -> dict:
    """`record` in a new process (JAX on one CPU device, no compilation cache, no other JAX or
    condense setting inherited), its JSON on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_", "CONDENSE_"))}
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1", CONDENSE_CACHE_DIR="off")
    res = subprocess.run([sys.executable, __file__, "--print", str(folder)], capture_output=True, text=True, env=env,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


@pytest.mark.slow
def test_run_files_are_the_recorded_ones(tmp_path):
    recorded = json.loads(RECORDED.read_text())
    here = machine()
    if recorded["machine"] != here:
        differ = [k for k in here if recorded["machine"].get(k) != here[k]]
        pytest.skip(f"fingerprints recorded on another machine or library version ({', '.join(differ)} differ)")
    got = _fresh_process(tmp_path)
    assert sorted(got) == sorted(recorded["runs"])
    changed = {name: [k for k in sorted(set(got[name]) | set(recorded["runs"][name]))
                      if got[name].get(k) != recorded["runs"][name].get(k)]
               for name in got}
    changed = {name: keys for name, keys in changed.items() if keys}
    assert not changed, f"run files differ from the recorded ones: {changed}"


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:2] == ["--print"]:
        print(json.dumps(record(Path(sys.argv[2]))))
    elif sys.argv[1:] == ["--write"]:
        with tempfile.TemporaryDirectory() as tmp:
            runs = _fresh_process(Path(tmp))
        RECORDED.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(runs)} run files' fingerprints in {RECORDED}")
    else:
        sys.exit("usage: python tests/test_run_files_unchanged.py --write")
