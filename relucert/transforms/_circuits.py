"""Exact gadget circuits: tournament max-trees (Arora B.3) and signed sums of them, as rational
layers ``(W, b)`` (object arrays of Fractions) ready for :func:`network_from_fractions`."""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

__all__ = ["sum_of_maxes", "max_tree_widths", "pieces_from_affine"]

F = Fraction


def _dense(coef: dict, width: int) -> list:
    row = [F(0)] * width
    for k, v in coef.items():
        row[k] += v
    return row


def _pair_stage(vals):
    """One tree level: ``max(a, b) = relu(a - b) + relu(b) - relu(-b)``; an odd value is carried
    as ``relu(v) - relu(-v)``.  ``vals`` are (coef dict over current units, bias)."""
    rows, biases, new = [], [], []
    u = 0
    i = 0
    while i + 1 < len(vals):
        (ca, ba), (cb, bb) = vals[i], vals[i + 1]
        diff = dict(ca)
        for k, v in cb.items():
            diff[k] = diff.get(k, F(0)) - v
        rows += [diff, dict(cb), {k: -v for k, v in cb.items()}]
        biases += [ba - bb, bb, -bb]
        new.append(({u: F(1), u + 1: F(1), u + 2: F(-1)}, F(0)))
        u += 3
        i += 2
    if i < len(vals):
        c, b = vals[i]
        rows += [dict(c), {k: -v for k, v in c.items()}]
        biases += [b, -b]
        new.append(({u: F(1), u + 1: F(-1)}, F(0)))
        u += 2
    return rows, biases, new, u


def _carry_stage(vals):
    rows, biases, new = [], [], []
    u = 0
    for c, b in vals:
        rows += [dict(c), {k: -v for k, v in c.items()}]
        biases += [b, -b]
        new.append(({u: F(1), u + 1: F(-1)}, F(0)))
        u += 2
    return rows, biases, new, u


def max_tree_widths(m: int) -> list[int]:
    """Hidden widths of the tournament tree for ``max`` of ``m`` values: ``3 floor(v/2) + 2 (v mod 2)``."""
    out = []
    v = m
    while v > 1:
        out.append(3 * (v // 2) + 2 * (v % 2))
        v = (v + 1) // 2
    return out


def pieces_from_affine(A, b) -> list:
    A = np.asarray(A, dtype=object)
    return [({k: F(v) for k, v in enumerate(row) if F(v) != 0}, F(bb)) for row, bb in zip(A, b)]


def sum_of_maxes(n: int, terms: Sequence[tuple[int, Sequence[tuple]]]) -> list[tuple]:
    """Layers of ``x -> sum_t sign_t * max_{(a, c) in pieces_t} (a.x + c)`` (exact, all of R^n).

    ``terms``: ``[(sign, [(a, c), ...]), ...]`` with ``a`` a sequence of n rationals.  Every term is
    a balanced tournament (``ceil(log2 m)`` hidden layers); shallower terms are padded with carry
    layers ``(relu(v), relu(-v))`` so all terms end together; the output adds them with their signs.
    """
    states = []
    for sign, pieces in terms:
        vals = [({k: F(v) for k, v in enumerate(a) if F(v) != 0}, F(c)) for a, c in pieces]
        if not vals:
            raise ValueError("a max term needs at least one piece")
        states.append([F(sign), vals])
    depth = max((len(max_tree_widths(len(v))) for _, v in states), default=0)
    layers = []
    in_width = n
    for _ in range(depth):
        all_rows, all_b, offsets = [], [], []
        off = 0
        for st in states:
            vals = st[1]
            rows, biases, new, w = (_pair_stage if len(vals) > 1 else _carry_stage)(vals)
            all_rows += rows
            all_b += biases
            st[1] = [({k + off: v for k, v in c.items()}, b) for c, b in new]
            off += w
        W = np.array([_dense(r, in_width) for r in all_rows], dtype=object).reshape(len(all_rows), in_width)
        layers.append((W, np.array(all_b, dtype=object)))
        in_width = off
    out = {}
    ob = F(0)
    for sign, vals in states:
        (c, b), = vals
        for k, v in c.items():
            out[k] = out.get(k, F(0)) + sign * v
        ob += sign * b
    layers.append((np.array([_dense(out, in_width)], dtype=object), np.array([ob], dtype=object)))
    return layers
