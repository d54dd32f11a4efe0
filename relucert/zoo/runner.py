"""Running a zoo: prepare each job, skip the ones the store already has, run the rest, record.

>>> from relucert.zoo import load_manifest, run_zoo            # doctest: +SKIP
>>> summary = run_zoo(load_manifest("zoo.toml"), "results.sqlite", workers=2)   # doctest: +SKIP
>>> summary.exit_code, summary.counts                            # doctest: +SKIP

Engines: ``"local"`` (default: :class:`~relucert.zoo.pool.LocalPool`, persistent supervised
workers), ``"inline"`` (in this process, no isolation or limits; for debugging), or any
:class:`concurrent.futures.Executor` passed as ``executor=`` (each job then runs through
:func:`~relucert.zoo.pool.run_job_isolated`, i.e. in its own worker process under its limits,
wherever the executor runs it: threads here, a Dask cluster, ...).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RelucertError
from .manifest import JobSpec, Manifest, load_manifest
from .progress import Progress
from .store import VERDICTS, ResultStore, StoreError, job_key

__all__ = ["run_zoo", "RunSummary", "prepare_job", "EXIT_ALL_RECORDED", "EXIT_UNDONE", "EXIT_OTHER"]

EXIT_ALL_RECORDED, EXIT_UNDONE, EXIT_OTHER = 0, 3, 4
ENGINES = ("local", "inline", "executor")
REDO = ("errors", "unknown", "all")


@dataclass
class RunSummary:
    total: int
    skipped: int = 0
    recorded: int = 0
    counts: dict = field(default_factory=lambda: {v: 0 for v in VERDICTS})
    interrupted: bool = False
    wall_s: float = 0.0
    run_id: int | None = None
    undone: list = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every job has a recorded result (whatever the verdicts), 3 when some are undone."""
        return EXIT_ALL_RECORDED if not self.undone else EXIT_UNDONE

    def to_dict(self) -> dict:
        return {"total": self.total, "skipped": self.skipped, "recorded": self.recorded, "counts": self.counts,
                "interrupted": self.interrupted, "wall_s": round(self.wall_s, 3), "run_id": self.run_id,
                "undone": self.undone, "exit_code": self.exit_code}


class _ModelCache:
    """Digest and input count per model file (the networks themselves are not kept)."""

    def __init__(self):
        self._info: dict = {}

    def info(self, path: str, job: JobSpec) -> tuple[str, int, int]:
        key = (path, job.fold_normalization and path.lower().endswith(".nnet"),
               job.drop_softmax and path.lower().endswith(".onnx"))
        if key not in self._info:
            from .worker import _load

            net = _load(path, {"fold_normalization": key[1], "drop_softmax": key[2]})
            self._info[key] = (net.digest, net.n_inputs, net.n_outputs)
        return self._info[key]


def prepare_job(job: JobSpec | dict, cache: _ModelCache | None = None, *,
                certificate_dir: str | None = None) -> dict:
    """The worker payload of ``job`` with models digested, box resolved and key computed.

    Raises a :class:`RelucertError` (or ``OSError``) when a model or the box cannot be read.
    The runner does this up front only for jobs whose name the store already has (to decide
    whether they are done); other jobs are digested by their worker, which saves loading every
    model twice.
    """
    from .worker import resolve_box

    cache = cache or _ModelCache()
    if isinstance(job, dict):
        p = dict(job)
        job = JobSpec.from_dict(job)
    else:
        p = job.to_dict()
        p["certificate_dir"] = certificate_dir
    f_digest, n_in, n_out = cache.info(job.f, job)
    p["f_digest"] = f_digest
    p["g_digest"] = cache.info(job.g, job)[0] if _has_g(p) else None  # shapes: checked by verify
    box = resolve_box(p, n_in, n_out)
    p["box_lo"] = [float(v) for v in box.lo]
    p["box_hi"] = [float(v) for v in box.hi]
    p["job_key"] = job_key(p)
    return p


def _has_g(p: dict) -> bool:
    """Whether the job has a second model file (a pair, or a query of two networks)."""
    return p["kind"] == "pair" or (p["kind"] == "query" and bool(p.get("g")))


def _lazy_payload(job: JobSpec, certificate_dir: str | None) -> dict:
    p = job.to_dict()
    p.update(certificate_dir=certificate_dir, f_digest=None, g_digest=None)
    return p


def _complete(payload: dict, result: dict, cache: _ModelCache) -> dict:
    """A payload with the digests, box and key of a finished job (from its worker's result,
    or computed here when the worker died before reporting them)."""
    if payload.get("job_key"):
        return payload
    p = dict(payload)
    have = result.get("f_digest") and result.get("box_lo") is not None and (
        not _has_g(p) or result.get("g_digest"))
    if have:
        p["f_digest"] = result["f_digest"]
        p["g_digest"] = result.get("g_digest") if _has_g(p) else None
        p["box_lo"], p["box_hi"] = result["box_lo"], result["box_hi"]
        p["job_key"] = job_key(p)
        return p
    try:
        return prepare_job(p, cache)
    except Exception as exc:  # noqa: BLE001 - the job's own failure is in the result already
        return _prepare_error(JobSpec.from_dict(payload), exc)[0]


def _prepare_error(job: JobSpec, exc: BaseException) -> tuple[dict, dict]:
    """A payload stand-in and an ERROR result for a job that could not even be prepared."""
    import hashlib

    p = job.to_dict()
    p.update(f_digest=None, g_digest=None, box_lo=job.box_lo or [], box_hi=job.box_hi or [])
    ident = json.dumps([job.name, job.f, job.g, job.spec, job.box_text, job.vnnlib, "unprepared"], sort_keys=True)
    p["job_key"] = "unprepared-" + hashlib.sha256(ident.encode()).hexdigest()
    msg = str(exc) if isinstance(exc, RelucertError) else f"{type(exc).__name__}: {exc}"
    res = {"name": job.name, "verdict": "ERROR", "stop_reason": "invalid_job",
           "reason": f"{job.where}: {msg}", "wall_s": 0.0}
    return p, res


def run_zoo(manifest: Manifest | str | Path, db: str | Path | None = None, *, workers: int = 1,
            engine: str = "local", executor: cf.Executor | None = None, kill_grace: float | None = None,
            redo: tuple | list = (), progress=None, quiet: bool = True,
            certificate_dir: str | None = None, only: list[str] | None = None,
            max_jobs: int | None = None, engine_label: str | None = None) -> RunSummary:
    """Run every job of ``manifest`` not yet in the store ``db`` and record each result as it ends.

    ``workers``: worker processes of the local engine.  ``executor``: run on this
    :class:`concurrent.futures.Executor` instead (``engine`` is then ``"executor"``).
    ``kill_grace``: seconds past a job's time limit before its worker is killed (default
    ``max(5, timeout / 4)``).  ``redo``: also re-run stored results that are ``"errors"``
    (ERROR / TIMEOUT), ``"unknown"`` or ``"all"``.  ``only``: job-name patterns to run.
    ``progress``: a :class:`Progress`, or a factory ``progress(total, skipped)``; default a
    quiet one unless ``quiet=False``.  ``max_jobs``: run at most this many (the rest stay undone: exit code 3).
    Returns a :class:`RunSummary`; ``KeyboardInterrupt`` stops the run with what is recorded kept.
    """
    import fnmatch

    t0 = time.monotonic()
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    if executor is not None:
        engine = "executor"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got engine={engine!r}")
    if engine == "executor" and executor is None:
        raise ValueError("engine='executor' needs executor=")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got workers={workers!r}")
    if kill_grace is not None and not (float(kill_grace) >= 0):
        raise ValueError(f"kill_grace must be >= 0 seconds, got kill_grace={kill_grace!r}")
    for r in redo:
        if r not in REDO:
            raise ValueError(f"redo must name {', '.join(REDO)}, got {r!r}")
    if db is None:
        db = manifest.db or str(Path(manifest.path).with_suffix(".sqlite"))
    jobs = manifest.jobs
    if only:
        jobs = [j for j in jobs if any(fnmatch.fnmatchcase(j.name, pat) for pat in only)]
    summary = RunSummary(total=len(jobs))
    with _RunLock(db), ResultStore(db) as store:
        done = store.done_keys()
        done_names = store.names()
        cache = _ModelCache()
        todo: list[dict] = []
        failed: list[tuple[dict, dict]] = []
        for job in jobs:
            if job.name not in done_names:  # never run: its worker digests the models
                todo.append(_lazy_payload(job, certificate_dir))
                continue
            try:
                payload = prepare_job(job, cache, certificate_dir=certificate_dir)
            except Exception as exc:  # noqa: BLE001 - recorded as this job's ERROR; the rest go on
                failed.append(_prepare_error(job, exc))
                continue
            prev = done.get(payload["job_key"])
            if prev is not None and not _redo(prev, redo):
                summary.skipped += 1
                continue
            todo.append(payload)
        kept = [(p, r) for p, r in failed if p["job_key"] not in done or _redo(done[p["job_key"]], redo)]
        summary.skipped += len(failed) - len(kept)
        failed = kept
        if max_jobs is not None:
            summary.undone = [p["name"] for p in todo[max_jobs:]]
            todo = todo[:max_jobs]
        run_id = store.begin_run(manifest=manifest.path, engine=engine_label or engine, workers=workers,
                                 jobs=len(jobs), skipped=summary.skipped)
        summary.run_id = run_id
        n_run = len(todo) + len(failed)
        if progress is None:
            prog = Progress(n_run, skipped=summary.skipped, quiet=quiet)
        elif isinstance(progress, Progress):
            prog = progress
        else:  # a factory: progress(total, skipped) -> Progress
            prog = progress(n_run, summary.skipped)
        prog.start()
        remaining = {p["name"]: p["name"] for p in todo}

        def on_result(payload: dict, result: dict) -> None:
            payload = _complete(payload, result, cache)
            store.record(payload, result, run_id=run_id, manifest=manifest.path)
            verdict = result.get("verdict") if result.get("verdict") in VERDICTS else "ERROR"
            summary.recorded += 1
            summary.counts[verdict] += 1
            remaining.pop(payload["name"], None)
            prog.update(payload["name"], verdict, result.get("wall_s"))

        status = "finished"
        try:
            for p, r in failed:
                on_result(p, r)
            if todo:
                if engine == "inline":
                    from .worker import execute_job

                    for p in todo:
                        on_result(p, execute_job(p, limit_memory=False))
                elif engine == "local":
                    from .pool import LocalPool

                    LocalPool(min(workers, len(todo)), kill_grace=kill_grace).run(
                        todo, on_result, on_tick=getattr(prog, "tick", None))
                else:
                    _run_on_executor(executor, todo, on_result, kill_grace, getattr(prog, "tick", None))
        except KeyboardInterrupt:
            summary.interrupted = True
            status = "interrupted"
        except BaseException:
            status = "failed"
            raise
        finally:
            summary.undone = list(remaining.values()) + [n for n in summary.undone if n not in remaining.values()]
            prog.close()
            try:
                store.end_run(run_id, status=status if not summary.undone or status != "finished" else "partial",
                              recorded=summary.recorded)
            except Exception:  # pragma: no cover - never hide the original error
                pass
    summary.wall_s = time.monotonic() - t0
    return summary


class _RunLock:
    """An exclusive advisory lock on ``DB.lock`` for the whole run, so that two runners never
    work on one store at once (the kernel releases it when the runner dies, even by kill -9)."""

    def __init__(self, db):
        self.path = f"{os.fspath(db)}.lock"
        self.fh = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            other = self.fh.read().strip() or "?"
            self.fh.close()
            self.fh = None
            raise StoreError(f"{os.fspath(self.path)[:-5]}: another zoo run (pid {other}) is using this "
                             f"results database; wait for it or use another --db") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()  # closing releases the lock; the file stays (harmless, reused)


def _redo(prev_verdict: str, redo) -> bool:
    if "all" in redo:
        return True
    if "errors" in redo and prev_verdict in ("ERROR", "TIMEOUT"):
        return True
    return "unknown" in redo and prev_verdict == "UNKNOWN"


def _run_on_executor(executor: cf.Executor, todo: list[dict], on_result, kill_grace, on_tick=None) -> None:
    from .pool import run_job_isolated

    futures = {executor.submit(run_job_isolated, json.dumps(p), kill_grace): p for p in todo}
    try:
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=1.0, return_when=cf.FIRST_COMPLETED)
            if on_tick is not None:
                on_tick()
            for fut in done:
                p = futures[fut]
                try:
                    res = json.loads(fut.result())
                except Exception as exc:  # the executor itself failed for this job
                    res = {"name": p["name"], "verdict": "ERROR", "stop_reason": "executor_error",
                           "reason": f"executor failed: {type(exc).__name__}: {exc}"}
                on_result(p, res)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
