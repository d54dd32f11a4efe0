"""Helper processes that share the work of each branch-and-bound step (``workers`` > 1).

Every step of :class:`relucert.verify.bab.DistanceBaB` splits a batch of open boxes and bounds
their children; the boxes are independent, so the batch is cut into ``workers`` parts, the
calling process expands the first and each helper one of the others, and the parts are joined in
order.  The search (which boxes are split, on which input, what bound each child gets) is the same
as with one process, up to the last bits of the bounds (the bound engines' matrix products see
different batch shapes, which BLAS may round differently; every bound stays sound); only the wall
time changes.

The helpers are forked from the caller, so they hold the same networks and bound engines without
any serialisation of them.  Messages are numpy arrays sent as raw bytes with a JSON header (no
pickle: nothing but arrays crosses the pipe).  Where ``fork`` is not available, or inside a
daemonic process (which may not have children), :func:`start_helpers` returns ``None`` with the
reason, and the search runs in one process.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import struct

import numpy as np

from ..errors import SolverError, SpecError

__all__ = ["pack", "unpack", "Helpers", "start_helpers", "check_workers"]


def check_workers(workers) -> int:
    """``workers`` as an int, or :class:`SpecError` naming the bad value."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or int(workers) < 1:
        raise SpecError(f"workers must be an integer >= 1, got workers={workers!r}")
    return int(workers)


def pack(arrays: dict) -> bytes:
    """A dict of arrays (or numbers) as bytes: an 8-byte header length, a JSON header naming
    each array's dtype, shape and place, then the raw data."""
    metas, chunks, off = [], [], 0
    for name, value in arrays.items():
        a = np.asarray(value)
        if a.dtype == object:
            raise TypeError(f"cannot send {name!r}: object arrays are not supported")
        metas.append([name, a.dtype.str, list(a.shape), off, a.nbytes])
        chunks.append(a.tobytes(order="C"))
        off += a.nbytes
    head = json.dumps(metas).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def unpack(data: bytes) -> dict:
    """The inverse of :func:`pack` (arrays are copies, writable)."""
    (n,) = struct.unpack_from("<Q", data, 0)
    metas = json.loads(data[8:8 + n].decode())
    body = memoryview(data)[8 + n:]
    out = {}
    for name, dtype, shape, off, nbytes in metas:
        out[name] = np.frombuffer(body[off:off + nbytes], dtype=np.dtype(dtype)).reshape(tuple(shape)).copy()
    return out


def _loop(conn, work) -> None:
    """A helper's life: expand what arrives, send back the result or the error, until told to stop."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while True:
            try:
                msg = conn.recv_bytes()
            except (EOFError, OSError):
                return
            if not msg:
                return
            try:
                reply = dict(work(unpack(msg)))
                reply["_ok"] = np.array(1)
            except BaseException as exc:  # reported to the caller, who raises it
                text = f"{type(exc).__name__}: {exc}".encode()
                reply = {"_ok": np.array(0), "_error": np.frombuffer(text, dtype=np.uint8)}
            try:
                conn.send_bytes(pack(reply))
            except (BrokenPipeError, OSError):
                return


class Helpers:
    """``n`` forked helper processes, each running ``work(dict of arrays) -> dict of arrays``."""

    def __init__(self, n: int, work):
        ctx = mp.get_context("fork")
        self._conns, self._procs = [], []
        try:
            for _ in range(int(n)):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_loop, args=(child, work), daemon=True, name="relucert-bab-helper")
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int:
        return len(self._procs)

    def submit(self, i: int, arrays: dict) -> None:
        try:
            self._conns[i].send_bytes(pack(arrays))
        except (BrokenPipeError, OSError) as exc:
            raise SolverError(self._died(i, exc)) from exc

    def result(self, i: int) -> dict:
        try:
            out = unpack(self._conns[i].recv_bytes())
        except (EOFError, OSError) as exc:
            raise SolverError(self._died(i, exc)) from exc
        if not int(out.pop("_ok")):
            raise SolverError(f"branch-and-bound helper {i + 1} failed: {out['_error'].tobytes().decode()}")
        return out

    def _died(self, i: int, exc) -> str:
        p = self._procs[i]
        p.join(timeout=1.0)
        return (f"branch-and-bound helper {i + 1} (pid {p.pid}) died (exit code {p.exitcode}): "
                f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        for c in self._conns:
            try:
                c.send_bytes(b"")
            except (BrokenPipeError, OSError):
                pass
        for p in self._procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5.0)
        for c in self._conns:
            c.close()
        self._conns, self._procs = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_helpers(n: int, work) -> tuple[Helpers | None, str]:
    """``(Helpers, "")``, or ``(None, reason)`` when helper processes cannot be used here."""
    if n < 1:
        return None, "one worker"
    if "fork" not in mp.get_all_start_methods():
        return None, "the fork start method is not available on this platform"
    if mp.current_process().daemon:
        return None, "a daemonic process may not start helper processes"
    return Helpers(n, work), ""
