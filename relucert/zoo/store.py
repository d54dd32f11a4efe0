"""The result store: one SQLite database per zoo, written one transaction per finished job.

The database runs in WAL mode with ``synchronous=FULL``: a result is on disk when its
transaction commits, and killing the runner at any moment (even ``kill -9``) leaves either the
whole row or nothing, never a corrupt file.  Only the runner's main process writes.

A job is identified by its *key*: a hash of its name, the digests of its models (or, for a
transform job, of f and the transform with its options), its spec, its box and its method and
node limit; for a query job (a VNN-LIB query from a 2026-style ``instances.csv``) also the
SHA-256 of the query file and the names the models are bound to.  Re-running a manifest skips every job whose key already has a row.  The time
limit is not part of the key (raise it and use ``redo=("unknown",)`` to run UNKNOWN jobs again).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from ..errors import RelucertError

__all__ = ["ResultStore", "StoreError", "job_key", "VERDICTS", "SCHEMA"]

SCHEMA = "relucert.zoo.results.v1"
VERDICTS = ("EQUIVALENT", "NOT_EQUIVALENT", "UNKNOWN", "TIMEOUT", "ERROR")


class StoreError(RelucertError, RuntimeError):
    """The results database cannot be opened or is not a relucert zoo store."""


_COLUMNS = [
    ("job_key", "TEXT PRIMARY KEY"),
    ("name", "TEXT NOT NULL"),
    ("kind", "TEXT"),
    ("f_path", "TEXT"),
    ("g_path", "TEXT"),
    ("transform", "TEXT"),
    ("f_digest", "TEXT"),
    ("g_digest", "TEXT"),
    ("spec", "TEXT"),
    ("box", "TEXT"),
    ("method_requested", "TEXT"),
    ("timeout", "REAL"),
    ("memory_limit", "INTEGER"),
    ("load_options", "TEXT"),
    ("verdict", "TEXT NOT NULL"),
    ("lower", "REAL"),
    ("upper", "REAL"),
    ("stop_reason", "TEXT"),
    ("reason", "TEXT"),
    ("method", "TEXT"),
    ("soundness", "TEXT"),
    ("time_s", "REAL"),
    ("wall_s", "REAL"),
    ("load_s", "REAL"),
    ("counterexample", "TEXT"),
    ("certificate", "TEXT"),
    ("note", "TEXT"),
    ("claim", "TEXT"),
    ("stats", "TEXT"),
    ("relucert_version", "TEXT"),
    ("run_id", "INTEGER"),
    ("finished_at", "TEXT"),
    ("manifest", "TEXT"),
]
COLUMN_NAMES = [c for c, _ in _COLUMNS]


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def job_key(payload: dict) -> str:
    """The identity of a job's question (see the module docstring)."""
    ident = {
        "name": payload["name"],
        "kind": payload["kind"],
        "f": payload.get("f_digest"),
        "g": payload.get("g_digest") if payload["kind"] == "pair" else None,
        "transform": [payload.get("transform"), payload.get("transform_options") or {}]
        if payload["kind"] == "transform" else None,
        "spec": payload["spec"],
        "box": [[float(v).hex() for v in payload["box_lo"]], [float(v).hex() for v in payload["box_hi"]]],
        "method": payload.get("method"),
        "node_limit": payload.get("node_limit"),
        "fold_normalization": bool(payload.get("fold_normalization")),
        "drop_softmax": bool(payload.get("drop_softmax")),
    }
    if payload["kind"] == "query":  # a VNN-LIB query: its file's hash, both models, their names
        ident["g"] = payload.get("g_digest")
        ident["query"] = payload.get("query_digest")
        ident["networks"] = [n for n, _ in payload.get("networks") or []]
    return hashlib.sha256(_canon(ident).encode()).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _num(v):
    """Floats from the worker's JSON: 'inf' strings back to floats, None kept."""
    if v is None:
        return None
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return float(v)


class ResultStore:
    """An open results database (a context manager)."""

    def __init__(self, path, *, create: bool = True):
        self.path = str(path)
        p = Path(self.path)
        if not create and not p.is_file():
            raise StoreError(f"{self.path}: no such results database")
        if p.exists() and p.is_file() and p.stat().st_size > 0:
            with open(p, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    raise StoreError(f"{self.path}: not an SQLite database (refusing to overwrite it)")
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 30000")
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self.db.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the results database: {exc}") from None
        self.wal = str(mode).lower() == "wal"
        self._init_schema()

    # -- schema ------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        try:
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: corrupt or not a database: {exc}") from None
        if tables and "meta" not in tables:
            raise StoreError(f"{self.path}: an SQLite database, but not a relucert zoo store")
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != SCHEMA:
                raise StoreError(f"{self.path}: schema {row[0] if row else None!r}, expected {SCHEMA!r}")
            return
        cols = ", ".join(f"{c} {t}" for c, t in _COLUMNS)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA,))
            self.db.execute(f"CREATE TABLE results ({cols})")
            self.db.execute("CREATE INDEX results_name ON results(name)")
            self.db.execute("CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT, "
                            "finished TEXT, manifest TEXT, engine TEXT, workers INTEGER, jobs INTEGER, "
                            "skipped INTEGER, recorded INTEGER, status TEXT, relucert_version TEXT, pid INTEGER)")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------------------
    def begin_run(self, *, manifest: str, engine: str, workers: int, jobs: int, skipped: int) -> int:
        from .. import __version__

        cur = self.db.execute(
            "INSERT INTO runs (started, manifest, engine, workers, jobs, skipped, recorded, status, "
            "relucert_version, pid) VALUES (?, ?, ?, ?, ?, ?, 0, 'running', ?, ?)",
            (_now(), manifest, engine, workers, jobs, skipped, __version__, os.getpid()))
        return int(cur.lastrowid)

    def end_run(self, run_id: int, *, status: str, recorded: int) -> None:
        self.db.execute("UPDATE runs SET finished=?, status=?, recorded=? WHERE run_id=?",
                        (_now(), status, recorded, run_id))

    def runs(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM runs ORDER BY run_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    # -- results -------------------------------------------------------------------------------
    def done_keys(self) -> dict[str, str]:
        """``{job_key: verdict}`` of every stored result."""
        return dict(self.db.execute("SELECT job_key, verdict FROM results").fetchall())

    def names(self) -> set[str]:
        """The job names that have at least one stored result."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT name FROM results")}

    def record(self, payload: dict, result: dict, *, run_id: int | None = None, manifest: str | None = None) -> None:
        """Store one finished job (one transaction; replaces an earlier row with the same key)."""
        from .. import __version__

        verdict = result.get("verdict")
        if verdict not in VERDICTS:
            verdict = "ERROR"
        row = {
            "job_key": payload["job_key"], "name": payload["name"], "kind": payload["kind"],
            "f_path": payload.get("f"), "g_path": payload.get("g"),
            "transform": None if payload["kind"] != "transform" else _canon(
                {"name": payload.get("transform"), "options": payload.get("transform_options") or {}}),
            "f_digest": result.get("f_digest") or payload.get("f_digest"),
            "g_digest": result.get("g_digest") or payload.get("g_digest"),
            "spec": _canon(result.get("spec") or payload["spec"]),  # a transform's claim: the spec it gave
            "box": _canon({"lo": payload["box_lo"], "hi": payload["box_hi"]}),
            "method_requested": payload.get("method"), "timeout": payload.get("timeout"),
            "memory_limit": payload.get("memory_limit"),
            "load_options": _canon({"fold_normalization": bool(payload.get("fold_normalization")),
                                    "drop_softmax": bool(payload.get("drop_softmax"))}),
            "verdict": verdict, "lower": _num(result.get("lower")), "upper": _num(result.get("upper")),
            "stop_reason": result.get("stop_reason"), "reason": result.get("reason") or "",
            "method": result.get("method"), "soundness": result.get("soundness"),
            "time_s": _num(result.get("time_s")), "wall_s": _num(result.get("wall_s")),
            "load_s": _num(result.get("load_s")),
            "counterexample": None if result.get("counterexample") is None else _canon(result["counterexample"]),
            "certificate": result.get("certificate"), "note": result.get("note"),
            "claim": None if result.get("claim") is None else _canon(result["claim"]),
            "stats": _canon(result.get("stats") or {}),
            "relucert_version": __version__, "run_id": run_id, "finished_at": _now(), "manifest": manifest,
        }
        cols = ", ".join(COLUMN_NAMES)
        marks = ", ".join("?" for _ in COLUMN_NAMES)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(f"INSERT OR REPLACE INTO results ({cols}) VALUES ({marks})",
                            [row[c] for c in COLUMN_NAMES])
            if run_id is not None:
                self.db.execute("UPDATE runs SET recorded = recorded + 1 WHERE run_id=?", (run_id,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def results(self, *, latest_per_name: bool = True) -> list[dict]:
        """Every stored result as a dict (JSON columns decoded), ordered by name.

        With ``latest_per_name`` only the newest row of each job name is kept (older rows are
        results for models or specs that have since changed)."""
        cur = self.db.execute("SELECT rowid, * FROM results ORDER BY name, finished_at, rowid")
        names = [d[0] for d in cur.description]
        rows = []
        for r in cur.fetchall():
            d = dict(zip(names, r))
            for c in ("spec", "box", "counterexample", "claim", "stats", "transform", "load_options"):
                if d.get(c):
                    d[c] = json.loads(d[c])
            rows.append(d)
        if latest_per_name:
            by_name: dict[str, dict] = {}
            for d in rows:
                by_name[d["name"]] = d  # ordered by finish time: the last one wins
            rows = [by_name[n] for n in sorted(by_name)]
        for d in rows:
            d.pop("rowid", None)
        return rows

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
