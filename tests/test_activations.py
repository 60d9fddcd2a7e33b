"""Activations: invariants over every one, and multiplicities by autodiff against theory."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from condense_cli.nn import activations
from condense_cli.errors import BadInput

EXPECTED = {"tanh": 1, "sigmoid": 1, "softplus": 1, "sin": 1, "xtanh": 2, "x2tanh": 3,
            "relu": None, "leaky_relu": None, "identity": 1, "square": 2, "gelu": 1, "silu": 1, "elu": 1}


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_every_activation_is_elementwise_finite_and_jittable(name):
    fn = activations.get(name).fn
    x = jnp.linspace(-5, 5, 23, dtype=jnp.float32).reshape(23, 1) * jnp.ones((1, 3))
    y = jax.jit(fn)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert bool(jnp.all(jnp.isfinite(y)))
    # elementwise: every column equals the activation of that column alone
    np.testing.assert_allclose(np.asarray(y[:, 0]), np.asarray(fn(x[:, 0])), rtol=1e-6)
    # differentiable almost everywhere, with finite gradients away from 0
    g = jax.vmap(jax.grad(fn))(jnp.array([-2.0, -0.5, 0.7, 3.0]))
    assert bool(jnp.all(jnp.isfinite(g)))


@pytest.mark.parametrize("name,p", sorted(EXPECTED.items()))
def test_multiplicity_matches_theory(name, p):
    assert activations.multiplicity(name) == p


def test_multiplicity_of_polynomial_like_functions():
    # σ(x) = x^k has multiplicity k; a shifted function σ(x) = 1 + x^2 has multiplicity 2
    for k in (1, 2, 3, 4):
        assert activations.multiplicity_of(lambda x, k=k: x ** k) == k
    assert activations.multiplicity_of(lambda x: 1.0 + x * x) == 2
    # abs(x) is not differentiable at 0
    assert activations.multiplicity_of(jnp.abs) is None


@pytest.mark.parametrize("formula,p", [
    ("1e-7*tanh(x)", 1), ("1e3*x**2*tanh(x)", 3), ("exp(40*x) - 1", 1), ("1e-12*x**2", 2),
    ("x**5", 5), ("tanh(x) - sin(x)", 3), ("relu(x)**2", None), ("abs(x)**3", None),
])
def test_multiplicity_is_relative_not_absolute(formula, p):
    """Zero is judged against the function's own Taylor coefficients: a tiny scale, a huge scale
    or fast-growing higher derivatives change nothing; a derivative that jumps at 0 gives None
    (|x|³ has a third derivative that jumps)."""
    assert activations.multiplicity_of(activations.get(formula).fn) == p


def test_multiplicity_leaves_x64_as_it_found_it():
    before = jax.config.jax_enable_x64
    activations.multiplicity_of(lambda x: x * jnp.tanh(x))
    assert jax.config.jax_enable_x64 == before
    assert jnp.zeros(1).dtype == (jnp.float64 if before else jnp.float32)


def test_unknown_activation_names_the_valid_ones():
    with pytest.raises(BadInput, match="unknown activation 'nope'.*tanh"):
        activations.get("nope")
