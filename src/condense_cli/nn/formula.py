"""Activations written as formulas of x, e.g. "x**2*tanh(x)" or "x*sigmoid(x)".

`compile_formula(text)` parses `text` with Python's `ast` (parsing only: nothing is evaluated)
and accepts only: numbers, the variable `x`, the constants `pi` and `e`, the operators
+ − * / ** and unary ±, and calls of one argument to the whitelisted functions in `FUNCTIONS`, nested at most
`MAX_NESTING` deep (so its multiplicity is found in seconds).
Anything else (other names, attribute access, subscripts, keywords, lambdas, comparisons, ...) is
a `BadInput` naming what was refused. The result is a JAX function built from closures over the
syntax tree, never from `eval` or `exec`.
"""
from __future__ import annotations

import ast
import math
from typing import Callable

import jax
import jax.numpy as jnp

from ..errors import BadInput

MAX_LENGTH = 300
MAX_NODES = 200
MAX_NESTING = 3  # functions applied to functions: the multiplicity's 6th derivative grows with the nesting
MAX_CALLS = 6

FUNCTIONS: dict[str, Callable] = {
    "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "exp": jnp.exp, "expm1": jnp.expm1, "log": jnp.log,
    "log1p": jnp.log1p, "sin": jnp.sin, "cos": jnp.cos, "sinh": jnp.sinh, "cosh": jnp.cosh,
    "erf": jax.scipy.special.erf, "relu": jax.nn.relu, "softplus": jax.nn.softplus, "abs": jnp.abs,
    "sqrt": jnp.sqrt, "gelu": jax.nn.gelu, "silu": jax.nn.silu, "elu": jax.nn.elu, "atan": jnp.arctan,
    "arctan": jnp.arctan,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply, ast.Div: jnp.divide,
           ast.Pow: jnp.power}


def looks_like_formula(text: str) -> bool:
    """Whether `text` is meant as a formula rather than a name: `x`, or anything that is not a
    plain identifier (operators, calls, dots, brackets, spaces...)."""
    return text.strip() == "x" or not text.strip().isidentifier()


def compile_formula(text: str) -> Callable[[jax.Array], jax.Array]:
    """The elementwise function σ(x) that `text` describes; BadInput for anything outside the
    whitelist (see module docstring)."""
    if len(text) > MAX_LENGTH:
        raise BadInput(f"activation formula longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise BadInput(f"activation formula {text!r} is not an arithmetic expression of x") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise BadInput(f"activation formula {text!r} is too long ({len(nodes)} parts)")
    nesting, calls = _nesting(tree.body), sum(isinstance(n, ast.Call) for n in nodes)
    if nesting > MAX_NESTING or calls > MAX_CALLS:
        raise BadInput(f"activation formula {text!r} nests functions {nesting} deep with {calls} calls; at most "
                       f"{MAX_NESTING} deep and {MAX_CALLS} calls (its multiplicity, a 6th derivative at 0, would "
                       "take minutes to compile)")
    fn = _builder(text)(tree.body)  # refuses anything outside the whitelist
    if not any(isinstance(n, ast.Name) and n.id == "x" for n in nodes):
        raise BadInput(f"activation formula {text!r} does not use x")
    return fn


def _nesting(node) -> int:
    """How many function calls are applied one inside another along the deepest path."""
    inner = max((_nesting(c) for c in ast.iter_child_nodes(node)), default=0)
    return inner + isinstance(node, ast.Call)


def _builder(text: str):
    def refuse(what: str):
        raise BadInput(f"activation formula {text!r}: {what} is not allowed (numbers, x, pi, e, "
                       f"+ - * / **, and {', '.join(sorted(FUNCTIONS))} of one argument)")

    def build(node) -> Callable[[jax.Array], jax.Array]:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                refuse(f"the constant {node.value!r}")
            value = float(node.value)
            if not math.isfinite(value):
                refuse("a non-finite number")
            return lambda x: jnp.asarray(value, x.dtype)
        if isinstance(node, ast.Name):
            if node.id == "x":
                return lambda x: x
            if node.id in CONSTANTS:
                value = CONSTANTS[node.id]
                return lambda x: jnp.asarray(value, x.dtype)
            refuse(f"the name {node.id!r}")
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                refuse(f"the operator {type(node.op).__name__}")
            left, right = build(node.left), build(node.right)
            if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) \
                    and float(node.right.value).is_integer():
                k = int(node.right.value)  # integer powers stay differentiable at 0
                return lambda x: jax.lax.integer_pow(left(x), k)
            return lambda x: op(left(x), right(x))
        if isinstance(node, ast.UnaryOp):
            inner = build(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda x: -inner(x)
            if isinstance(node.op, ast.UAdd):
                return inner
            refuse(f"the operator {type(node.op).__name__}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                refuse("calling anything but a named function (e.g. attribute access)")
            name = node.func.id
            if name not in FUNCTIONS:
                refuse(f"the function {name!r}")
            if node.keywords or len(node.args) != 1:
                refuse(f"{name} with other than one plain argument")
            fn, arg = FUNCTIONS[name], build(node.args[0])
            return lambda x: fn(arg(x))
        if isinstance(node, ast.Attribute):
            refuse("attribute access")
        refuse(f"a {type(node).__name__} expression")

    return build
