"""Real data from local files: tiny IDX and CIFAR-binary files built here, every bad file refused
with one line, and classification training with accuracies."""
import gzip
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli.cli import app
from condense_cli.data import resolve
from condense_cli.errors import BadInput

runner = CliRunner()
RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_mnist(folder, n=30, gz=False, labels=None):
    images = RNG.integers(0, 256, (n, 4, 4))
    labels = RNG.integers(0, 10, n) if labels is None else labels
    for stem, arr in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        data = idx_bytes(np.asarray(arr))
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / stem).write_bytes(data)
    return images, labels


def write_cifar(folder, n=12, hundred=False):
    labels = RNG.integers(0, 100 if hundred else 10, n)
    pixels = RNG.integers(0, 256, (n, 3072))
    if hundred:
        records = np.concatenate([np.zeros((n, 1)), labels[:, None], pixels], axis=1).astype(np.uint8)
        (folder / "train.bin").write_bytes(records.tobytes())
    else:
        records = np.concatenate([labels[:, None], pixels], axis=1).astype(np.uint8)
        for i in range(1, 6):
            (folder / f"data_batch_{i}.bin").write_bytes(records.tobytes())
    return pixels, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_raw_and_gz(tmp_path, gz):
    images, labels = write_mnist(tmp_path, gz=gz)
    ds = resolve("mnist", data_dir=str(tmp_path), test_fraction=0.2)
    assert ds.x.shape == (24, 16) and ds.x_test.shape == (6, 16) and ds.y.shape == (24, 10)
    assert ds.x.min() >= 0 and ds.x.max() <= 1 and ds.spec["normalization"] == "pixels scaled to [0, 1]"
    # every training row is one of the images with its label
    flat = images.reshape(30, -1).astype(np.float32) / np.float32(255)  # pixel files give float32 pixels / 255
    assert ds.x.dtype == np.float32 and ds.x_test.dtype == np.float32
    for row, y in zip(ds.x, ds.y):
        i = int(np.flatnonzero((flat == row).all(axis=1))[0])
        assert np.argmax(y) == labels[i]


def test_data_read_in_background_is_the_same_and_its_errors_reach_the_caller(tmp_path):
    """`resolve_in_background` (what `condense train` reads with while JAX imports): the same
    arrays as `resolve`, and a bad input raised in the caller's thread as the same one line."""
    from condense_cli.data import resolve_in_background

    write_mnist(tmp_path)
    wait = resolve_in_background("mnist", None, 3, str(tmp_path), 0.2, "auto")
    ds, direct = wait(), resolve("mnist", None, 3, str(tmp_path), 0.2, "auto")
    for name in ("x", "y", "x_test", "y_test"):
        assert np.array_equal(getattr(ds, name), getattr(direct, name)) and getattr(ds, name).dtype == getattr(direct, name).dtype
    wait = resolve_in_background("mnist", None, 0, str(tmp_path / "missing"))
    with pytest.raises(BadInput, match="does not exist or is not a folder"):
        wait()
    # through `condense train`: a bad option is reported before a bad data folder, each in one line
    missing = ["train", "--data", "mnist", "--data-dir", str(tmp_path / "missing"), "-q", "--out", str(tmp_path / "r.npz")]
    for extra, message in (([], "does not exist or is not a folder"), (["--width", "0"], "width must be at least 1")):
        res = runner.invoke(app, [*missing, *extra])
        assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output


def test_cifar_binary_10_and_100(tmp_path):
    pixels, labels = write_cifar(tmp_path)
    ds = resolve("cifar10", data_dir=str(tmp_path), test_fraction=0.0)
    assert ds.x.shape == (60, 3072) and ds.y.shape == (60, 10)
    (tmp_path / "c100").mkdir()
    _, labels100 = write_cifar(tmp_path / "c100", hundred=True)
    ds = resolve("cifar100", data_dir=str(tmp_path / "c100"), test_fraction=0.25, n=8)
    # --n counts training points: 8 of them, after a quarter of all 12 is held out for the test set
    assert ds.y.shape == (8, 100) and ds.x_test.shape == (3, 3072)


def test_digits_ship_with_scikit_learn():
    ds = resolve("digits")
    assert ds.x.shape[1] == 64 and ds.y.shape[1] == 10 and len(ds.x) + len(ds.x_test) == 1797


def test_bad_files_one_line(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        resolve("mnist", data_dir=str(tmp_path / "nope"))
    with pytest.raises(BadInput, match="give --data-dir"):
        resolve("mnist")
    with pytest.raises(BadInput, match="train-images-idx3-ubyte.*not found in.*get it from"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist(tmp_path)
    bad = bytearray((tmp_path / "train-images-idx3-ubyte").read_bytes())
    bad[2] = 0x0D
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes(bad))
    with pytest.raises(BadInput, match="wrong magic number"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist(tmp_path)
    full = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(full[:-5])
    with pytest.raises(BadInput, match="header says"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29)))
    with pytest.raises(BadInput, match="30 images but 29 labels"):
        resolve("mnist", data_dir=str(tmp_path))
    c = tmp_path / "c"
    c.mkdir()
    write_cifar(c)
    (c / "data_batch_3.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(BadInput, match="not a whole number of 3073-byte records"):
        resolve("cifar10", data_dir=str(c))
    (c / "data_batch_3.bin").unlink()
    with pytest.raises(BadInput, match="data_batch_3.bin not found.*pickled Python version is never read"):
        resolve("cifar10", data_dir=str(c))


def test_classification_training_records_accuracies(tmp_path):
    write_mnist(tmp_path, n=40)
    out = tmp_path / "m.npz"
    res = runner.invoke(app, ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--loss", "ce", "--width", "8",
                              "--steps", "50", "--lr", "0.01", "--record-every", "10", "--seeds", "2", "-q", "--json",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    with np.load(out, allow_pickle=False) as f:
        assert f["train_acc"].shape == (2, 6) and f["test_acc"].shape == (2, 6)
        assert f["x_test"].shape == (8, 16) and json.loads(str(f["meta"]))["loss"] == "ce"
    # the recorded accuracies are those of the recorded weights, recomputed here by hand
    import jax.numpy as jnp

    from condense_cli import run as runfile
    from condense_cli.nn.models import forward
    from condense_cli.run import network

    run = runfile.load_run(out)
    for s in range(2):
        for k in (0, 5):
            params, spec = network(run, s, k)
            for name, x, y in (("train_acc", run.x, run.y), ("test_acc", run.extra["x_test"], run.extra["y_test"])):
                pred = np.asarray(forward(params, jnp.asarray(x, jnp.float32), spec)).argmax(1)
                assert run.extra[name][s, k] == pytest.approx(np.mean(pred == y.argmax(1)), abs=1e-6)
    assert obj["train_acc"] == pytest.approx(run.extra["train_acc"][:, -1].mean(), abs=1e-6)
    assert obj["test_acc"] == pytest.approx(run.extra["test_acc"][:, -1].mean(), abs=1e-6)
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--data", "sin1d", "--loss", "ce", "-q", "--out", str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "needs a classification data set" in res.stderr
    res = runner.invoke(app, ["train", "--data", "mnist", "--data-dir", str(tmp_path / "none"), "-q",
                              "--out", str(tmp_path / "y.npz")])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_convolution_layer_matches_a_hand_convolution():
    import jax.numpy as jnp

    from condense_cli.nn.models import NetSpec, forward

    H, W, C, k, c = 5, 4, 2, 3, 2
    spec = NetSpec(d=H * W * C, widths=(c,), d_out=1, acts=("identity",), output_bias=False, conv=(k, (H, W, C)))
    assert spec.shapes == [(c, C * k * k + 1), (1, c * 3 * 2 + 1)]
    x = RNG.standard_normal((3, H * W * C))
    w = RNG.standard_normal((c, C * k * k + 1))
    a = np.zeros((1, c * 6 + 1))
    a[0, :-1] = RNG.standard_normal(c * 6)
    f = np.asarray(forward({"hidden": [jnp.asarray(w)], "out": jnp.asarray(a)}, jnp.asarray(x), spec))
    # by hand: channel j at (r, s) = Σ_{ci, u, v} K[j, ci, u, v] · img[r+u, s+v, ci] + b_j, flattened (r, s, j)
    img = x.reshape(3, H, W, C)
    K = w[:, :-1].reshape(c, C, k, k)
    out = np.zeros((3, H - k + 1, W - k + 1, c))
    for r in range(H - k + 1):
        for s_ in range(W - k + 1):
            patch = img[:, r:r + k, s_:s_ + k, :]  # (n, k, k, C)
            out[:, r, s_, :] = np.einsum("nuvc,jcuv->nj", patch, K) + w[:, -1]
    np.testing.assert_allclose(f[:, 0], out.reshape(3, -1) @ a[0, :-1], rtol=1e-5, atol=1e-5)


def test_cnn_on_image_data_and_bad_shapes(tmp_path):
    write_mnist(tmp_path, n=30)
    out = tmp_path / "c.npz"
    res = runner.invoke(app, ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--arch", "cnn", "--channels", "3",
                              "--kernel", "2", "--width", "5", "--loss", "ce", "--steps", "20", "-q", "--json",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    with np.load(out, allow_pickle=False) as f:
        assert f["w1"].shape[2:] == (3, 1 * 2 * 2 + 1)  # one row per channel: c_in·k·k + bias
        assert f["w2"].shape[2:] == (5, 3 * 3 * 3 + 1)
        meta = json.loads(str(f["meta"]))
        assert meta["schema"] == "condense.run/3" and meta["layers"][0]["kind"] == "conv"
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["layers"][0]["neurons"] == 3
    for args, match in ((["--kernel", "9"], "does not fit the 4x4 image"),
                        (["--data", "sin5d"], "needs image data"),
                        (["--act", "relu,tanh,sigmoid"], "3 activations given for 2 hidden layers")):
        base = ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--arch", "cnn", "--kernel", "2", "-q",
                "--out", str(tmp_path / "bad.npz")]
        res = runner.invoke(app, base + args)
        assert res.exit_code == 2 and match in res.stderr, res.output


def test_version_1_run_files_are_still_read(tmp_path):
    from condense_cli import TrainConfig, io, train
    from condense_cli import run as runfile

    r = train(TrainConfig(data="sin1d", n=8, width=4, steps=5))
    meta = {k: v for k, v in r.meta.items() if k not in ("layers", "arch")}
    meta["schema"] = "condense.run/1"
    old = {k: v for k, v in r.arrays().items() if k != "loss_step"}  # /1 and /2: the loss of every step
    io.save_npz(tmp_path / "old.npz", old, meta)
    back = runfile.load_run(tmp_path / "old.npz")
    assert back.hidden[0].shape == r.hidden[0].shape
    assert np.array_equal(back.loss_step, np.arange(6)) and back.batch_loss is None


def test_conv_channel_outputs_condense_when_kernels_are_scaled_copies():
    from condense_cli.measure.condensation import channel_output_clusters, conv_output_cosine
    from condense_cli.run import TrainResult

    H = W = 4
    k = 2
    base = RNG.standard_normal(k * k)
    other = RNG.standard_normal(k * k)
    rows = [np.append(base, 0.0), np.append(2.5 * base, 0.0), np.append(other, 0.0)]  # relu: 2.5·K ~ K
    w1 = np.array(rows)[None, None]
    a = RNG.standard_normal((1, 1, 1, 3 * 9 + 1))
    x = RNG.uniform(0, 1, (20, H * W))
    meta = {"activation": ["relu"], "layers": [{"kind": "conv", "kernel": k, "image": [H, W, 1], "in_channels": 1,
                                                "out": [3, 3]}]}
    run = TrainResult(x=x, y=np.zeros((20, 1)), loss=np.zeros((1, 1)), step=np.array([0]), hidden=[w1], out=a,
                      meta=meta)
    cos, norms = conv_output_cosine(run, 0, 0, batch=7)
    assert cos[0, 1] == pytest.approx(1.0, abs=1e-5) and cos[0, 2] < 0.999
    assert norms[1] == pytest.approx(2.5 * norms[0], rel=1e-5)
    out = channel_output_clusters(cos, norms, min_share=0.05, tol=0.999, fixed_tol=0.95)
    # channels 0 and 1 share one cluster; channel 2 is alone (a cluster of one is not counted)
    assert out["clusters"] == 1 and out["shares"] == pytest.approx([2 / 3, 1 / 3])
    assert out["measure"]["method"] == "fixed" and out["measure"]["condensed"] is False  # no reference for outputs


@pytest.mark.slow
def test_resnet18_trunk_smoke(tmp_path):
    from condense_cli import run as runfile
    from condense_cli.nn.models import NetSpec

    spec = NetSpec(d=32 * 32 * 3, widths=(1024, 1024), d_out=10, acts=("relu", "relu"), trunk=("resnet18", 64, (32, 32, 3)))
    shapes = spec.trunk_shapes()
    assert len(shapes) == 20 and shapes[-1][0] == 512 and spec.shapes[0] == (1024, 513)
    assert 11.0e6 < sum(int(np.prod(s)) for s in shapes) < 11.3e6  # ResNet18's convolutions, 3x3 stem

    write_cifar(tmp_path, n=16)
    out = tmp_path / "rn.npz"
    res = runner.invoke(app, ["train", "--data", "cifar10", "--data-dir", str(tmp_path), "--arch", "resnet18",
                              "--trunk-width", "2", "--widths", "6,6", "--act", "relu", "--loss", "ce", "--optimizer",
                              "sgd", "--batch-size", "16", "--lr", "0.01", "--steps", "4", "--record-every", "2",
                              "-q", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    run = runfile.load_run(out)
    assert run.hidden[0].shape == (1, 3, 6, 8 * 2 + 1)  # the head's first layer reads 8b pooled features
    assert len([k for k in run.extra if k.startswith("trunk_")]) == 20
    for name in ("train_acc", "test_acc"):  # counted during training, at every snapshot, trunk included
        acc = run.extra[name][0]
        assert ((0 <= acc) & (acc <= 1)).all(), name
    assert run.meta["trunk"]["features"] == 16
    res = runner.invoke(app, ["analyze", str(out), "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["layers"][0]["theory"] is None
    res = runner.invoke(app, ["reduce", str(out), "-q"])
    assert res.exit_code == 2 and "ResNet18 trunk" in res.stderr


def write_mnist_test(folder, n=10, size=4, truncate=False):
    images = RNG.integers(0, 256, (n, size, size))
    labels = RNG.integers(0, 10, n)
    for stem, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        data = idx_bytes(np.asarray(arr))
        (folder / stem).write_bytes(data[:-5] if truncate and "images" in stem else data)
    return images, labels


def test_official_test_sets_are_read_when_present(tmp_path):
    images, labels = write_mnist(tmp_path, n=30)
    test_images, test_labels = write_mnist_test(tmp_path, n=10)
    ds = resolve("mnist", data_dir=str(tmp_path))  # auto: the t10k files are there
    assert ds.spec["test_set"] == "official" and ds.spec["test_fraction"] is None
    assert ds.x.shape == (30, 16) and ds.x_test.shape == (10, 16)
    np.testing.assert_array_equal(ds.x_test, test_images.reshape(10, -1).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.y_test.argmax(1), test_labels)
    assert sorted(ds.y.argmax(1).tolist()) == sorted(labels.tolist())  # every training image, none held out
    split = resolve("mnist", data_dir=str(tmp_path), test_set="split", test_fraction=0.2)
    assert split.spec["test_set"] == "split" and split.x.shape == (24, 16) and split.x_test.shape == (6, 16)
    small = resolve("mnist", data_dir=str(tmp_path), n=12)
    assert small.x.shape == (12, 16) and small.x_test.shape == (10, 16)  # --n counts training points
    # CIFAR-10: test_batch.bin beside the training batches
    c = tmp_path / "c10"
    c.mkdir()
    write_cifar(c, n=6)
    pixels = RNG.integers(0, 256, (4, 3072))
    tl = RNG.integers(0, 10, 4)
    (c / "test_batch.bin").write_bytes(np.concatenate([tl[:, None], pixels], 1).astype(np.uint8).tobytes())
    ds = resolve("cifar10", data_dir=str(c))
    assert ds.spec["test_set"] == "official" and ds.x.shape == (30, 3072) and ds.x_test.shape == (4, 3072)
    np.testing.assert_array_equal(ds.y_test.argmax(1), tl)


def test_official_test_set_bad_input(tmp_path):
    write_mnist(tmp_path, n=20)
    with pytest.raises(BadInput, match="--test-set official needs the official test files"):
        resolve("mnist", data_dir=str(tmp_path), test_set="official")
    with pytest.raises(BadInput, match="digits has no official test set"):
        resolve("digits", test_set="official")
    write_mnist_test(tmp_path, n=5, truncate=True)
    with pytest.raises(BadInput, match="t10k-images-idx3-ubyte.*truncated"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist_test(tmp_path, n=5, size=5)  # 5x5 test images beside 4x4 training images
    with pytest.raises(BadInput, match="official test images are 5x5x1, the training images 4x4x1"):
        resolve("mnist", data_dir=str(tmp_path))
    with pytest.raises(BadInput, match="--n 21 is more than the 20 training points"):
        resolve("mnist", data_dir=str(tmp_path), test_set="split", test_fraction=0.0, n=21)
    out = tmp_path / "r.npz"
    res = runner.invoke(app, ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--loss", "ce", "--width", "4",
                              "--steps", "5", "-q", "--out", str(out)])
    assert res.exit_code == 2 and "official test images are 5x5x1" in res.stderr and not out.exists()
    assert len([l for l in res.stderr.splitlines() if l.strip()]) == 1


def test_accuracies_of_an_early_stopped_run_match_its_recorded_weights(tmp_path):
    """The snapshot an early stop appends (not counted inside the program) gets its accuracies
    too, and every recorded one equals a recomputation from the recorded weights."""
    import jax.numpy as jnp

    from condense_cli import TrainConfig, train
    from condense_cli.nn.models import forward
    from condense_cli.run import network

    write_mnist(tmp_path, n=40)
    r = train(TrainConfig(data="mnist", data_dir=str(tmp_path), loss="ce", width=8, optimizer="sgd", batch_size=8,
                          lr=0.5, steps=400, record_every=100, loss_every=7, init_std=0.3, stop_at_loss_ratio=0.9))
    assert r.meta["stop_step"][0] < 400 and r.step[-1] == r.meta["stop_step"][0] and r.step[-1] % 100
    for k in range(len(r.step)):
        params, spec = network(r, 0, k)
        for name, x, y in (("train_acc", r.x, r.y), ("test_acc", r.extra["x_test"], r.extra["y_test"])):
            pred = np.asarray(forward(params, jnp.asarray(x, jnp.float32), spec)).argmax(1)
            assert r.extra[name][0, k] == pytest.approx(np.mean(pred == y.argmax(1)), abs=1e-6), (name, k)
