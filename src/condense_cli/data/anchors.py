"""The anchor-function composite task (Zhang, Lin, Wang, Zhang, Xu, NeurIPS 2024; the authors'
code `sjtuzzw/complexity_control`).

Anchors 1, 2, 3, 4 shift a key by +5, +1, −2, −8. A sequence has 9 tokens: noise items from
20..99, one key (20..99) at position 0..6 and the two anchors right after it; the target is the
key shifted by both anchors. 14 of the 16 ordered anchor pairs are trained on that composition,
(3, 4) on the wrong answer key − 6, and (4, 3) never appears in training: on it an inferential
model answers key − 10, a symmetric (memorizing) one key − 6. Keys are split by position: a
training key at position pos has key mod 9 ≠ pos, an in-distribution (ID) test key key mod 9 = pos.

`make_anchors(n, seed, vocab)` -> `AnchorData`: tokens int32 (n, 9) and targets (n,) of the
training set, of the ID test set (the 15 trained pairs on test keys) and of the (4, 3) set (its
keys too, to score inferential and symmetric answers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInput

SHIFT = {1: 5, 2: 1, 3: -2, 4: -8}
SEQ = 9  # tokens per sequence
KEYS = (20, 100)  # keys and noise items: 20..99
VOCAB = 201  # the authors' vocabulary
TRAINED = [(a, b) for a in SHIFT for b in SHIFT if (a, b) != (4, 3)]  # 15 pairs: 14 composed, (3, 4) on key − 6
UNSEEN = (4, 3)
MAX_TARGET = KEYS[1] - 1 + 2 * max(SHIFT.values())  # 109: the largest target any pair asks for


def target(a: np.ndarray, b: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The trained answer of pair (a, b) on `key`: the composition, except (3, 4) -> key − 6."""
    shift = np.vectorize(SHIFT.get)
    composed = key + shift(a) + shift(b)
    return np.where((a == 3) & (b == 4), key - 6, composed)


@dataclass(frozen=True)
class AnchorData:
    """x_*: int32 token sequences (n, 9); y_*: int32 targets (n,); pair_*: (n, 2) the anchors;
    key_ood: the keys of the (4, 3) set (its inferential answer key − 10, symmetric key − 6)."""

    x_train: np.ndarray
    y_train: np.ndarray
    pair_train: np.ndarray
    x_id: np.ndarray
    y_id: np.ndarray
    pair_id: np.ndarray
    x_ood: np.ndarray
    key_ood: np.ndarray
    vocab: int
    spec: dict


def _sequences(rng: np.random.Generator, pairs: np.ndarray, train_keys: bool | None):
    """(tokens (n, 9), keys (n,)) for the anchor pairs (n, 2); keys by position: training keys
    (key mod 9 ≠ pos), test keys (= pos), or any key (None)."""
    n = len(pairs)
    x = rng.integers(*KEYS, size=(n, SEQ))
    pos = rng.integers(0, SEQ - 2, size=n)
    keys = np.arange(*KEYS)
    key = np.empty(n, np.int64)
    for p in range(SEQ - 2):  # draw each position's keys from its allowed set
        rows = np.flatnonzero(pos == p)
        allowed = keys if train_keys is None else keys[(keys % SEQ != p) if train_keys else (keys % SEQ == p)]
        key[rows] = rng.choice(allowed, size=len(rows))
    r = np.arange(n)
    x[r, pos], x[r, pos + 1], x[r, pos + 2] = key, pairs[:, 0], pairs[:, 1]
    return x.astype(np.int32), key


def check_vocab(vocab: int) -> None:
    """BadInput unless a vocabulary of `vocab` tokens holds every target."""
    if vocab <= MAX_TARGET:
        raise BadInput(f"a vocabulary of {vocab} tokens cannot hold every target (up to {MAX_TARGET}); "
                       f"use at least {MAX_TARGET + 1} (the authors used {VOCAB})")


def make_anchors(n: int, seed: int = 0, vocab: int = VOCAB, n_test: int | None = None) -> AnchorData:
    """n training sequences (every trained pair equally often, at least once), an ID test set and a
    (4, 3) set of `n_test` each (default max(n // 9, 200), the authors' 9:1 split). BadInput
    when n cannot hold every trained pair or the vocabulary cannot hold every target."""
    if n < len(TRAINED):
        raise BadInput(f"--n {n} cannot hold every trained anchor pair: the anchors task needs at least "
                       f"{len(TRAINED)} training sequences")
    check_vocab(vocab)
    n_test = max(n // 9, 200) if n_test is None else n_test
    rng = np.random.default_rng(seed)
    table = np.array(TRAINED)

    def pairs_for(count):  # every pair equally often (a shuffled cycle), so each appears once n ≥ 15
        return table[rng.permutation(np.arange(count) % len(table))]

    pair_train = pairs_for(n)
    x_train, key_train = _sequences(rng, pair_train, True)
    pair_id = pairs_for(n_test)
    x_id, key_id = _sequences(rng, pair_id, False)
    pair_ood = np.tile(np.array(UNSEEN), (n_test, 1))
    x_ood, key_ood = _sequences(rng, pair_ood, None)
    spec = {"name": "anchors", "n": int(n), "n_id": int(n_test), "n_ood": int(n_test), "seed": int(seed),
            "vocab": int(vocab), "seq": SEQ, "shifts": {str(k): v for k, v in SHIFT.items()},
            "trained_pairs": [list(p) for p in TRAINED], "unseen_pair": list(UNSEEN),
            "rule": "target = key + shift(a) + shift(b); (3, 4) trained on key - 6; (4, 3) never trained; "
                    "training keys at position pos have key mod 9 != pos, ID test keys key mod 9 == pos"}
    return AnchorData(x_train, target(pair_train[:, 0], pair_train[:, 1], key_train).astype(np.int32), pair_train,
                      x_id, target(pair_id[:, 0], pair_id[:, 1], key_id).astype(np.int32), pair_id,
                      x_ood, key_ood.astype(np.int32), int(vocab), spec)
