"""Network arithmetic: `forward` and `hidden_features` against a plain NumPy loop, in both
internal layouts (batch-major for 1-d inputs, feature-major otherwise), and the custom derivative
of tanh and sigmoid layers, and the convolution layer against XLA's own convolution (a whole
convolution network is checked against a hand convolution in test_realdata)."""
import jax.numpy as jnp
import numpy as np
import pytest

from condense_cli.nn.init import init_params
from condense_cli.nn.models import NetSpec, forward, hidden_features


NUMPY_ACTS = {"tanh": np.tanh, "xtanh": lambda z: z * np.tanh(z), "x2tanh": lambda z: z * z * np.tanh(z),
              "sin": np.sin, "softplus": lambda z: np.log1p(np.exp(z)), "relu": lambda z: np.maximum(z, 0),
              "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "identity": lambda z: z}


def numpy_forward(params, x, spec):
    """x^[l] = σ(x^[l-1] Wᵀ + b) (+ x^[l-1] residual after the first layer), f = (x^[L] Aᵀ + c)/α."""
    h, seen = x, []
    for l, (w, act) in enumerate(zip(params["hidden"], spec.acts)):
        seen.append(h)
        z = NUMPY_ACTS[act](h @ w[:, :-1].T + w[:, -1])
        h = z + h if (spec.residual and l > 0) else z
    a = params["out"]
    return (h @ a[:, :-1].T + a[:, -1]) / spec.alpha, seen


@pytest.mark.parametrize("spec", [
    NetSpec(d=1, widths=(7,), d_out=1, acts=("tanh",)),  # batch-major
    NetSpec(d=1, widths=(6, 6, 6), d_out=2, acts=("xtanh", "tanh", "sin"), residual=True, alpha=3.0),
    NetSpec(d=5, widths=(9,), d_out=1, acts=("x2tanh",)),  # feature-major
    NetSpec(d=3, widths=(4, 4), d_out=3, acts=("tanh", "softplus"), residual=True, output_bias=False),
    NetSpec(d=2, widths=(5, 3), d_out=1, acts=("relu", "sigmoid"), alpha=0.5),
], ids=["1d", "1d-residual-deep", "5d", "3d-residual", "2d-two-layers"])
def test_forward_and_features_match_a_numpy_loop(spec):
    params = init_params(3, spec, [0.7] * (len(spec.widths) + 1), np.float64)
    x = np.random.default_rng(0).normal(size=(11, spec.d))
    f_ref, seen_ref = numpy_forward(params, x, spec)
    jparams = {"hidden": [jnp.asarray(w, jnp.float32) for w in params["hidden"]],
               "out": jnp.asarray(params["out"], jnp.float32)}
    f = np.asarray(forward(jparams, jnp.asarray(x, jnp.float32), spec))
    assert f.shape == (11, spec.d_out)
    np.testing.assert_allclose(f, f_ref, rtol=2e-5, atol=2e-5)
    seen = hidden_features(jparams, jnp.asarray(x, jnp.float32), spec)
    for s, r in zip(seen, seen_ref):
        assert s.shape == r.shape
        np.testing.assert_allclose(np.asarray(s), r, rtol=2e-5, atol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("acts", [("tanh",), ("sigmoid", "tanh"), ("tanh", "xtanh")])
def test_gradients_match_plain_autodiff(acts):
    """tanh and sigmoid layers take their derivative from their stored output (a custom JVP):
    the loss gradient must equal that of the textbook batch-major formula, differentiated by JAX."""
    import jax

    from condense_cli.nn.models import mse

    spec = NetSpec(d=4, widths=(6,) * len(acts), d_out=2, acts=acts, alpha=2.0)
    params = init_params(5, spec, [0.8] * (len(acts) + 1), np.float32)
    params = jax.tree.map(jnp.asarray, params)
    rng = np.random.default_rng(2)
    x, y = jnp.asarray(rng.normal(size=(9, 4)), jnp.float32), jnp.asarray(rng.normal(size=(9, 2)), jnp.float32)
    plain = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "xtanh": lambda z: z * jnp.tanh(z)}

    def textbook(p):
        h = x
        for w, a in zip(p["hidden"], acts):
            h = plain[a](h @ w[:, :-1].T + w[:, -1])
        f = (h @ p["out"][:, :-1].T + p["out"][:, -1]) / spec.alpha
        return 0.5 * jnp.mean(jnp.sum((f - y) ** 2, axis=-1))

    got = jax.grad(lambda p: mse(p, x, y, spec))(params)
    want = jax.grad(textbook)(params)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-6)
    # second derivatives too (the custom rule is itself differentiable)
    hv = lambda loss: jax.jvp(jax.grad(loss), (params,), (params,))[1]
    for g, w in zip(jax.tree.leaves(hv(lambda p: mse(p, x, y, spec))), jax.tree.leaves(hv(textbook))):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("H, W, C, k, c", [(7, 6, 1, 3, 16), (6, 9, 3, 2, 5), (5, 5, 2, 5, 3)])
def test_banded_convolution_matches_xla_convolution(H, W, C, k, c):
    """`convolve` computes b neighbouring output columns per product with a banded kernel (the
    image padded on the right when b does not divide W'): for every b, including the default
    and blocks that run past the image, its output and its kernel gradient equal
    `lax.conv_general_dilated`'s in float64 to rounding."""
    import jax

    from condense_cli.nn.models import conv_columns, convolve
    from condense_cli.runtime import x64

    spec = NetSpec(d=H * W * C, widths=(c,), d_out=1, acts=("relu",), conv=(k, (H, W, C)))
    rng = np.random.default_rng(4)
    with x64():
        x = jnp.asarray(rng.standard_normal((3, H * W * C)))
        w = jnp.asarray(rng.standard_normal((c, C * k * k + 1)))

        def value_and_grad(conv):  # the output and the gradient of Σ sin(output) in the kernel
            return jax.jit(lambda w: (conv(w), jax.grad(lambda w: jnp.sum(jnp.sin(conv(w))))(w)))(w)

        def xla(w):
            out = jax.lax.conv_general_dilated(x.reshape(3, H, W, C), w[:, :-1].reshape(c, C, k, k), (1, 1), "VALID",
                                               dimension_numbers=("NHWC", "OIHW", "NHWC"))
            return (out + w[:, -1]).reshape(3, -1)  # (n, H'·W'·c), ordered (row, column, channel)

        want, want_grad = value_and_grad(xla)
        assert want.shape == (3, (H - k + 1) * (W - k + 1) * c)
        for b in sorted({1, 2, 3, 4, conv_columns(c)}):
            got, grad = value_and_grad(lambda w: convolve(x, w, spec, b))
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(np.asarray(grad), np.asarray(want_grad), rtol=1e-12, atol=1e-12)
