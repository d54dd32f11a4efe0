"""Exact matrix rank over a prime field and over the rationals, vectorized in numpy.

* :func:`rank_mod_p` reduces an integer matrix modulo a prime ``p < 2**31`` and runs Gaussian
  elimination in ``int64`` (every product of two residues is below ``2**62``, so no step
  overflows).  For an integer matrix ``A``, ``rank_{F_p}(A mod p) <= rank_Q(A)``: one modular
  rank is a certified *lower* bound on the rational rank.
* :func:`mod_matmul` and :func:`mod_einsum` multiply residue arrays exactly by splitting one
  operand into 16-bit halves (products stay below ``2**47``).
* :func:`rank_exact` is fraction-free (Bareiss) elimination on Python integers held in numpy
  object arrays: the exact rational rank, for small matrices and cross-checks.
* :func:`rank_float` is the SVD rank with numpy's default threshold (a cross-check only).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, SpecError

__all__ = ["DEFAULT_PRIME", "is_prime", "rank_mod_p", "mod_matmul", "mod_einsum", "rank_exact",
           "rank_float", "to_residues"]

#: the Mersenne prime 2**31 - 1
DEFAULT_PRIME = 2_147_483_647
_LIMB = 1 << 16


def is_prime(p: int) -> bool:
    """Deterministic primality for ``p < 2**64`` (Miller-Rabin with fixed bases)."""
    p = int(p)
    if p < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for q in small:
        if p % q == 0:
            return p == q
    d, s = p - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in small:
        x = pow(a, d, p)
        if x in (1, p - 1):
            continue
        for _ in range(s - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def _check_prime(p) -> int:
    try:
        p = int(p)
    except (TypeError, ValueError):
        raise SpecError(f"prime must be an integer, got prime={p!r}") from None
    if not 2 <= p < 2**31:
        raise SpecError(f"prime must satisfy 2 <= prime < 2**31, got prime={p}")
    if not is_prime(p):
        raise SpecError(f"prime must be a prime number, got prime={p}")
    return p


def to_residues(a, p: int = DEFAULT_PRIME) -> np.ndarray:
    """``a mod p`` as an int64 array in ``[0, p)``; ``a`` holds integers (int64 or Python ints)."""
    p = _check_prime(p)
    arr = np.asarray(a)
    if arr.dtype == object:
        flat = [int(v) % p for v in arr.reshape(-1)]
        return np.array(flat, dtype=np.int64).reshape(arr.shape)
    if not np.issubdtype(arr.dtype, np.integer):
        raise SpecError(f"modular rank needs an integer matrix, got dtype {arr.dtype}")
    return np.mod(arr.astype(np.int64), p)


def mod_matmul(a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """``(a @ b) mod p`` for residue arrays in ``[0, p)``, ``p < 2**31``, exact in int64."""
    if a.shape[-1] > _LIMB:
        raise ShapeError(f"inner dimension {a.shape[-1]} exceeds {_LIMB} (int64 accumulation bound)")
    lo = b & (_LIMB - 1)
    hi = b >> 16
    r_lo = np.matmul(a, lo) % p
    r_hi = np.matmul(a, hi) % p
    return (r_lo + (r_hi * _LIMB) % p) % p


def mod_einsum(spec: str, a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """``einsum(spec, a, b) mod p`` for residues; the contraction length must be <= 2**16."""
    lo = b & (_LIMB - 1)
    hi = b >> 16
    r_lo = np.einsum(spec, a, lo) % p
    r_hi = np.einsum(spec, a, hi) % p
    return (r_lo + (r_hi * _LIMB) % p) % p


def rank_mod_p(a, p: int = DEFAULT_PRIME) -> int:
    """Rank of the integer matrix ``a`` over the field with ``p`` elements.

    Row-reduction is vectorized per pivot: the whole trailing block is updated with one outer
    product, each entry below ``p**2 < 2**62``.
    """
    p = _check_prime(p)
    m = to_residues(a, p)
    if m.ndim != 2:
        raise ShapeError(f"rank needs a 2-D matrix, got shape {m.shape}")
    if m.shape[0] > m.shape[1]:
        m = m.T
    m = np.ascontiguousarray(m)
    rows, cols = m.shape
    rank = 0
    for c in range(cols):
        if rank == rows:
            break
        nz = np.flatnonzero(m[rank:, c])
        if nz.size == 0:
            continue
        piv = rank + int(nz[0])
        if piv != rank:
            m[[rank, piv]] = m[[piv, rank]]
        inv = pow(int(m[rank, c]), p - 2, p)
        m[rank, c:] = (m[rank, c:] * inv) % p
        below = m[rank + 1:, c].copy()
        hit = np.flatnonzero(below)
        if hit.size:
            idx = rank + 1 + hit
            m[idx, c:] = (m[idx, c:] - (below[hit, None] * m[rank, c:][None, :]) % p) % p
        rank += 1
    return rank


def rank_exact(a) -> int:
    """Exact rational rank of an integer (or Fraction-free integer object) matrix (Bareiss)."""
    m = np.array(a, dtype=object)
    if m.ndim != 2:
        raise ShapeError(f"rank needs a 2-D matrix, got shape {m.shape}")
    for v in m.reshape(-1):
        if not isinstance(v, (int, np.integer)):
            raise SpecError(f"exact rank needs integer entries, got {v!r}")
    m = np.vectorize(int, otypes=[object])(m) if m.size else m
    if m.shape[0] > m.shape[1]:
        m = m.T.copy()
    rows, cols = m.shape
    rank, prev = 0, 1
    for c in range(cols):
        if rank == rows:
            break
        nz = [i for i in range(rank, rows) if m[i, c] != 0]
        if not nz:
            continue
        piv = nz[0]
        if piv != rank:
            m[[rank, piv]] = m[[piv, rank]]
        pv = m[rank, c]
        # Bareiss update of the trailing block: exact division by the previous pivot
        block = m[rank + 1:, c:]
        col = m[rank + 1:, c].copy()
        upd = (block * pv - np.outer(col, m[rank, c:])) // prev
        m[rank + 1:, c:] = upd
        prev = pv
        rank += 1
    return rank


def rank_float(a, *, rtol: float | None = None) -> tuple[int, np.ndarray]:
    """SVD rank (threshold ``rtol * s_max``, numpy's default ``max(shape) * eps`` when None) and
    the singular values.  A cross-check, never a certificate."""
    m = np.asarray(a, dtype=np.float64)
    if m.ndim != 2:
        raise ShapeError(f"rank needs a 2-D matrix, got shape {m.shape}")
    s = np.linalg.svd(m, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0, s
    tol = (max(m.shape) * np.finfo(np.float64).eps if rtol is None else float(rtol)) * s[0]
    return int(np.sum(s > tol)), s
