"""Worker processes: a supervised local pool, and one-shot isolated runs for any Executor.

Each worker is a fresh interpreter (``python -m relucert.zoo.worker``, the equivalent of the
``spawn`` start method: nothing of the parent's state or threads is inherited).  Jobs go in on
its stdin as JSON lines; results come back as JSON lines on a separate pipe, so solver output on
stdout/stderr (kept in a log file, its tail quoted when a worker dies) cannot corrupt them.  No
pickle is used anywhere.  We use :mod:`subprocess` rather than :mod:`multiprocessing` so that
the same code also runs inside daemonic processes (Dask workers may not fork multiprocessing
children) and so that no object of the parent ever crosses the boundary.

The supervisor enforces per job a hard deadline of ``timeout + kill_grace`` (verify honours
``timeout`` itself and returns UNKNOWN; the deadline catches hangs in native code) and turns a
worker's death into an ERROR result (the signal and the log tail as the reason).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["LocalPool", "run_job_isolated", "worker_env", "kill_deadline"]


def kill_deadline(payload: dict, kill_grace: float | None) -> float:
    """Seconds after which a job's worker is killed: ``timeout + grace``."""
    t = float(payload.get("timeout") or 60.0)
    grace = kill_grace if kill_grace is not None else max(5.0, 0.25 * t)
    return t + grace


def worker_env() -> dict:
    """Environment of a worker: one BLAS thread (one job per core), relucert importable."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env.setdefault(var, "1")
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except (ValueError, AttributeError):
        return f"signal {-code}"


class _Worker:
    """One worker process and the job it is running."""

    def __init__(self, log_dir: str, *, pdeathsig: bool = True):
        r, w = os.pipe()
        self.log_path = os.path.join(log_dir, f"worker-{os.getpid()}-{id(self):x}-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "relucert.zoo.worker", "--result-fd", str(w)]
        cmd += ["--parent", str(os.getpid())] + (["--pdeathsig"] if pdeathsig else [])
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT,
                                         pass_fds=(w,), env=worker_env(), close_fds=True, start_new_session=True)
        finally:
            os.close(w)
        os.set_blocking(r, False)
        self.rfd = r
        self.buf = b""
        self.payload: dict | None = None
        self.started = 0.0
        self.deadline = float("inf")
        self.log_offset = 0

    def send(self, payload: dict, deadline_s: float) -> None:
        self.payload = payload
        self.started = time.monotonic()
        self.deadline = self.started + deadline_s
        self.log.flush()
        self.log_offset = os.path.getsize(self.log_path)
        self.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.stdin.flush()

    def read(self) -> tuple[list[dict], bool]:
        """Complete results available now, and whether the pipe reached EOF (worker gone)."""
        eof = False
        while True:
            try:
                chunk = os.read(self.rfd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            self.buf += chunk
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                out.append(json.loads(line))
        return out, eof

    def log_tail(self, n: int = 400) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self.log_offset)
                data = fh.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace").strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:])
        return tail[-n:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:  # pragma: no cover - already gone
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        self.close()

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        for closer in (lambda: self.proc.stdin.close(), lambda: os.close(self.rfd), self.log.close):
            try:
                closer()
            except OSError:
                pass
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def stop(self) -> None:
        """Ask an idle worker to exit (EOF on stdin), then make sure it did."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.close()


def _timeout_result(payload: dict, elapsed: float) -> dict:
    return {"name": payload.get("name"), "verdict": "TIMEOUT", "lower": None, "upper": None,
            "stop_reason": "killed", "method": payload.get("method"),
            "reason": f"killed after {elapsed:.1f}s: no answer within the time limit "
                      f"{payload.get('timeout'):g}s plus the kill grace",
            "time_s": None, "wall_s": elapsed, "counterexample": None, "stats": {}}


def _crash_result(payload: dict, w: _Worker, elapsed: float) -> dict:
    code = w.proc.poll()
    if code is None:
        try:
            code = w.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            code = w.proc.wait()
    how = f"killed by {_signal_name(code)}" if code < 0 else f"exited with status {code}"
    if code == -signal.SIGKILL:
        how += " (out of memory, or killed from outside)"
    tail = w.log_tail()
    # native code that dies on a failed allocation (OpenBLAS, a solver) is out of memory too
    oom = any(m in tail for m in ("Memory allocation", "MemoryError", "Cannot allocate memory", "std::bad_alloc",
                                  "out of memory"))
    return {"name": payload.get("name"), "verdict": "ERROR", "lower": None, "upper": None,
            "stop_reason": "out_of_memory" if oom else "crash", "method": payload.get("method"),
            "reason": f"worker crashed: {how}" + (f"; last output: {tail}" if tail else ""),
            "time_s": None, "wall_s": elapsed, "counterexample": None, "stats": {}}


class LocalPool:
    """``workers`` supervised worker processes, one job at a time each.

    :meth:`run` feeds the payloads to idle workers and calls ``on_result(payload, result)`` in
    the calling thread as each job ends (in completion order).  A worker that dies or passes
    its deadline is replaced; its job gets an ERROR / TIMEOUT result.  On an exception in the
    caller (``KeyboardInterrupt``) every worker is killed before it propagates.
    """

    def __init__(self, workers: int, *, kill_grace: float | None = None):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got workers={workers!r}")
        self.n = workers
        self.kill_grace = kill_grace
        self.respawns = 0

    def run(self, payloads: Iterable[dict], on_result: Callable[[dict, dict], None],
            on_tick: Callable[[], None] | None = None) -> None:
        pending = deque(payloads)
        if not pending:
            return
        log_dir = tempfile.mkdtemp(prefix="relucert-zoo-")
        sel = selectors.DefaultSelector()
        workers: list[_Worker] = []

        def spawn() -> _Worker:
            w = _Worker(log_dir)
            workers.append(w)
            sel.register(w.rfd, selectors.EVENT_READ, w)
            return w

        def retire(w: _Worker, *, kill: bool) -> None:
            sel.unregister(w.rfd)
            workers.remove(w)
            w.kill() if kill else w.stop()

        try:
            for _ in range(min(self.n, len(pending))):
                spawn()
            while True:
                for w in list(workers):
                    if w.payload is None and pending:
                        p = pending.popleft()
                        try:
                            w.send(p, kill_deadline(p, self.kill_grace))
                        except (BrokenPipeError, OSError):  # died while idle: replace, retry the job
                            pending.appendleft(p)
                            w.payload = None
                            retire(w, kill=True)
                            spawn()
                            self.respawns += 1
                busy = [w for w in workers if w.payload is not None]
                if not busy:
                    break
                now = time.monotonic()
                wait = max(0.0, min(w.deadline for w in busy) - now)
                ready = sel.select(timeout=min(wait, 1.0))
                if on_tick is not None:
                    on_tick()  # at least once a second: the progress clock
                for key, _ in ready:
                    w: _Worker = key.data
                    results, eof = w.read()
                    for res in results:
                        if w.payload is None:  # pragma: no cover - protocol guard
                            continue
                        p, w.payload = w.payload, None
                        res.setdefault("wall_s", time.monotonic() - w.started)
                        on_result(p, res)
                        if res.get("restart"):  # the worker exits after this (out of memory)
                            eof = True
                    if eof:
                        if w.payload is not None:
                            p = w.payload
                            on_result(p, _crash_result(p, w, time.monotonic() - w.started))
                            w.payload = None
                        retire(w, kill=True)
                        if pending:
                            spawn()
                            self.respawns += 1
                now = time.monotonic()
                for w in list(workers):
                    if w.payload is not None and now >= w.deadline:
                        p = w.payload
                        w.payload = None
                        retire(w, kill=True)
                        on_result(p, _timeout_result(p, now - w.started))
                        if pending:
                            spawn()
                            self.respawns += 1
            for w in list(workers):
                retire(w, kill=False)
        finally:
            for w in list(workers):
                try:
                    sel.unregister(w.rfd)
                except (KeyError, ValueError):
                    pass
                w.kill()
            sel.close()
            try:
                os.rmdir(log_dir)
            except OSError:
                pass


def run_job_isolated(payload_json: str, kill_grace: float | None = None) -> str:
    """Run one job (a JSON string) in a fresh worker process under its limits and return the
    result as a JSON string.  This is what the runner submits to a user's Executor (a thread
    pool, a Dask cluster, ...): crashes, hangs and out-of-memory stay inside the job."""
    payload = json.loads(payload_json)
    log_dir = tempfile.mkdtemp(prefix="relucert-zoo-")
    w = _Worker(log_dir, pdeathsig=False)  # started from an executor's thread: watchdog only
    result = None
    try:
        w.send(payload, kill_deadline(payload, kill_grace))
        w.proc.stdin.close()
        sel = selectors.DefaultSelector()
        sel.register(w.rfd, selectors.EVENT_READ)
        while result is None:
            left = w.deadline - time.monotonic()
            if left <= 0:
                result = _timeout_result(payload, time.monotonic() - w.started)
                break
            if sel.select(timeout=left):
                results, eof = w.read()
                if results:
                    result = results[0]
                    result.setdefault("wall_s", time.monotonic() - w.started)
                elif eof:
                    result = _crash_result(payload, w, time.monotonic() - w.started)
        sel.close()
    finally:
        w.kill()
        try:
            os.rmdir(log_dir)
        except OSError:
            pass
    return json.dumps(result)
