"""Zoo manifests: a TOML file (or a VNN-COMP style ``instances.csv``) listing verification jobs.

A manifest is read once, checked completely and turned into a list of :class:`JobSpec`
objects: plain data (paths, spec, box source, limits) that a worker process can run without
the manifest.  Every error is a :class:`~relucert.errors.ManifestError` whose message starts
with ``FILE:LINE:`` and names the job and the field::

    zoo.toml:14: job 2 ('acas_1_2'): eps must be a finite number >= 0, got eps=-0.1

The smallest manifest::

    [defaults]
    eps = 0.05
    timeout = 60

    [[job]]
    name = "acas_1_1"
    f = "nets/ACASXU_run2a_1_1_batch_2000.nnet"
    g = "nets/ACASXU_run2a_1_1_batch_2000_16bit.nnet"
    box = "-0.3:0.68,-0.5:0.5,-0.5:0.5,0.45:0.5,-0.5:-0.45"   # or: vnnlib = "prop_1.vnnlib"

Relative paths are relative to the manifest's folder.  See :data:`JOB_FIELDS` for every field
and :mod:`relucert.zoo` for pairing rules and ``[[instances]]`` tables.
"""

from __future__ import annotations

import csv
import glob as _glob
import io
import math
import os
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ManifestError

__all__ = [
    "JobSpec",
    "Manifest",
    "JOB_FIELDS",
    "SPEC_KINDS",
    "load_manifest",
    "read_instances_csv",
    "parse_memory",
]

#: every field a ``[[job]]`` (or ``[defaults]``, or ``[[instances]]``) table may hold, with help
JOB_FIELDS: dict[str, str] = {
    "name": "job name (unique); with a glob in f, a template such as '{stem}' (default)",
    "f": "first model (.onnx, .nnet, .npz), or a glob pattern such as 'nets/*.onnx'",
    "g": "second model, or with a glob in f a pairing template such as '{stem}-mirror{suffix}'",
    "transform": "instead of g: the name of a relucert transform applied to f (g = transform(f))",
    "transform_options": "table of keyword options for the transform",
    "spec": "what to prove: 'eps' (default), 'top1', 'decision', or for transform jobs 'claim' (the "
            "transform's own claim; the default for a transform job that gives no spec field)",
    "eps": "eps spec: sup-norm bound on f - g",
    "outputs": "eps spec: output indices compared (default all)",
    "margin": "top1 spec: f's lead below which a point is not checked",
    "tau_f": "decision spec: threshold of f",
    "tau_g": "decision spec: threshold of g",
    "gamma": "decision spec: margin around tau_f",
    "box": "input box: 'lo:hi,lo:hi,...' or a table {lo = [...], hi = [...]}",
    "vnnlib": "input box from a VNN-LIB file (its input bounds; output assertions are ignored)",
    "method": "verify method: auto, bab, milp, smt, bounds",
    "timeout": "time limit per job in seconds (verify's time_limit; the worker is killed later)",
    "memory_limit": "address-space limit of the worker during the job: bytes or '4GiB', '512MiB'",
    "node_limit": "branch-and-bound node limit",
    "seed": "random seed of the counterexample search",
    "certificate": "true: write a certificate for the result (needs relucert.certify)",
    "fold_normalization": ".nnet models: fold the input normalization into the network",
    "drop_softmax": "ONNX models: drop a final Softmax",
    "fault": "testing only (needs RELUCERT_ZOO_TEST_FAULTS=1): 'crash', 'hang', 'oom' or 'raise'",
}

#: fields only an ``[[instances]]`` table has
INSTANCE_FIELDS: dict[str, str] = {
    "csv": "the instances.csv file",
    "search": "folders searched for the model files the CSV names (default: the CSV's folder)",
    "target": "'target' (default): check only the row's target_output; 'all': every output",
    "select": "glob pattern(s) on the instance id, e.g. 'acas-0.05-*'",
    "limit": "use only the first N selected rows",
}

SPEC_KINDS = ("eps", "top1", "decision", "claim")
METHODS = ("auto", "bab", "milp", "smt", "bounds")
FAULTS = ("crash", "hang", "oom", "raise")
FAULTS_ENV = "RELUCERT_ZOO_TEST_FAULTS"

DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY = 4 * 2**30

_GLOB_CHARS = re.compile(r"[*?\[]")
_TEMPLATE_KEYS = ("stem", "name", "suffix", "dir", "match")


@dataclass
class JobSpec:
    """One verification job, as plain data.

    ``kind`` is ``"pair"`` (f against g), ``"transform"`` (f against ``transform(f)``) or
    ``"query"`` (a VNN-LIB query decided for its ``networks``, ``[[name or None, path], ...]``,
    f and g being the first two of them; ``query_digest`` is the SHA-256 of the query file and
    the spec is ``{"kind": "query", ...}``: the query's own assertions decide).
    ``spec`` is a dict (``{"kind": "eps", "eps": 0.05, "outputs": [0]}``); the box is given by
    exactly one of ``box_text``, ``box_lo``/``box_hi`` or ``vnnlib``.  ``where`` is
    ``"FILE:LINE"`` of the table the job came from, used in later error messages.
    """

    name: str
    kind: str
    f: str
    g: str | None = None
    transform: str | None = None
    transform_options: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    box_text: str | None = None
    box_lo: list | None = None
    box_hi: list | None = None
    vnnlib: str | None = None
    method: str = "auto"
    timeout: float = DEFAULT_TIMEOUT
    memory_limit: int = DEFAULT_MEMORY
    node_limit: int | None = None
    seed: int = 0
    certificate: bool = False
    fold_normalization: bool = False
    drop_softmax: bool = False
    fault: str | None = None
    query: str | None = None
    query_digest: str | None = None
    networks: list = field(default_factory=list)
    where: str = ""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> "JobSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Manifest:
    path: str
    jobs: list[JobSpec]
    db: str | None = None

    def __len__(self) -> int:
        return len(self.jobs)


# -- locating tables and keys in the TOML text (tomllib reports no positions) --------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*(\]\]?)\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


class _Lines:
    """Line numbers of tables and of their keys: ``(table, index) -> (line, {key: line})``."""

    def __init__(self, text: str):
        self.tables: dict[tuple[str, int], tuple[int, dict[str, int]]] = {("", 0): (1, {})}
        counts: dict[str, int] = {}
        current = ("", 0)
        in_multiline: str | None = None
        depth = 0
        for no, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            if depth > 0:  # inside a multi-line array or inline table
                depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
                continue
            m = _HEADER.match(line)
            if m and not _KEY.match(line):
                name = m.group(2).strip().strip("\"'")
                if m.group(1) == "[[":
                    idx = counts.get(name, 0)
                    counts[name] = idx + 1
                else:
                    idx = 0
                current = (name, idx)
                self.tables.setdefault(current, (no, {}))
                continue
            k = _KEY.match(line)
            if k:
                key = k.group(1).strip('"')
                self.tables.setdefault(current, (no, {}))[1].setdefault(key, no)
                rest = line[k.end():]
                for q in ('"""', "'''"):
                    if rest.count(q) % 2 == 1:
                        in_multiline = q
                depth = rest.count("[") + rest.count("{") - rest.count("]") - rest.count("}")
                if depth < 0:
                    depth = 0

    def line(self, table: str, index: int, key: str | None = None) -> int:
        start, keys = self.tables.get((table, index), (1, {}))
        if key is not None and key in keys:
            return keys[key]
        return start


class _Ctx:
    """Where a value comes from, for error messages."""

    def __init__(self, file: str, lines: _Lines | None, table: str, index: int, label: str,
                 csv_line: int | None = None):
        self.file, self.lines, self.table, self.index, self.label = file, lines, table, index, label
        self.csv_line = csv_line

    def where(self, key: str | None = None) -> str:
        if self.csv_line is not None:
            return f"{self.file}:{self.csv_line}"
        line = self.lines.line(self.table, self.index, key) if self.lines else 1
        return f"{self.file}:{line}"

    def error(self, key: str | None, message: str) -> ManifestError:
        prefix = f"{self.where(key)}: {self.label}: " if self.label else f"{self.where(key)}: "
        return ManifestError(prefix + message)


# -- values ------------------------------------------------------------------------------------

_MEM = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B?|B)?\s*$", re.I)
_MEM_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 2**10, "ki": 2**10, "m": 10**6, "mb": 10**6,
              "mib": 2**20, "mi": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "gi": 2**30,
              "t": 10**12, "tb": 10**12, "tib": 2**40, "ti": 2**40}


def parse_memory(value) -> int:
    """Bytes from an int or a string like ``'4GiB'``, ``'512 MiB'``, ``'2G'``; ``ValueError`` if bad."""
    if isinstance(value, bool):
        raise ValueError(f"expected bytes or a size like '4GiB', got {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and (m := _MEM.match(value)):
        unit = (m.group(2) or "").lower()
        if unit not in _MEM_UNITS:
            raise ValueError(f"unknown size unit in {value!r}")
        n = int(float(m.group(1)) * _MEM_UNITS[unit])
    else:
        raise ValueError(f"expected bytes or a size like '4GiB', got {value!r}")
    if n < 2**24:
        raise ValueError(f"must be at least 16MiB, got {value!r}")
    return n


def _number(ctx: _Ctx, key: str, v, *, positive=False, nonneg=False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.error(key, f"{key} must be a number, got {key}={v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ctx.error(key, f"{key} must be finite, got {key}={v!r}")
    if positive and not f > 0:
        raise ctx.error(key, f"{key} must be > 0, got {key}={v!r}")
    if nonneg and f < 0:
        raise ctx.error(key, f"{key} must be a finite number >= 0, got {key}={v!r}")
    return f


def _int(ctx: _Ctx, key: str, v, *, minimum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ctx.error(key, f"{key} must be an integer, got {key}={v!r}")
    if minimum is not None and v < minimum:
        raise ctx.error(key, f"{key} must be >= {minimum}, got {key}={v!r}")
    return int(v)


def _bool(ctx: _Ctx, key: str, v) -> bool:
    if not isinstance(v, bool):
        raise ctx.error(key, f"{key} must be true or false, got {key}={v!r}")
    return v


def _str(ctx: _Ctx, key: str, v) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ctx.error(key, f"{key} must be a non-empty string, got {key}={v!r}")
    return v


def _choice(ctx: _Ctx, key: str, v, choices) -> str:
    if v not in choices:
        raise ctx.error(key, f"{key} must be one of {', '.join(map(repr, choices))}, got {key}={v!r}")
    return v


def _suggest(key: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(ctx: _Ctx, table: dict, allowed, what: str) -> None:
    for key in table:
        if key not in allowed:
            raise ctx.error(key, f"unknown field {key!r} in {what}{_suggest(key, allowed)}")


def _resolve(base: Path, p: str) -> Path:
    q = Path(os.path.expanduser(p))
    return q if q.is_absolute() else base / q


# -- building jobs -------------------------------------------------------------------------------

_SPEC_FIELDS = ("eps", "outputs", "margin", "tau_f", "tau_g", "gamma")


def _build_spec(ctx: _Ctx, opts: dict, *, transform: bool = False) -> dict:
    default = "eps"
    if transform and not any(k in opts for k in _SPEC_FIELDS):
        default = "claim"
    kind = _choice(ctx, "spec", opts.get("spec", default), SPEC_KINDS)
    if kind == "claim":
        if not transform:
            raise ctx.error("spec", "spec = 'claim' needs a transform job (the claim comes from the transform)")
        own = [k for k in _SPEC_FIELDS if k in opts.get("__job_keys", set(opts))]
        if own:
            raise ctx.error(own[0], f"{own[0]} does not apply to spec='claim' (the transform's claim decides)")
        return {"kind": "claim"}
    from ..verify.spec import DecisionEquivalence, EpsEquivalence, Top1Equivalence
    from ..errors import SpecError

    fields_by_kind = {"eps": ("eps", "outputs"), "top1": ("margin",), "decision": ("tau_f", "tau_g", "gamma"),
                      "claim": ()}
    own = opts.get("__job_keys", set(opts))
    for other, names in fields_by_kind.items():
        for n in names:
            if other != kind and n in own and n not in fields_by_kind[kind]:
                # a default meant for another spec kind does not apply; a job's own field must
                raise ctx.error(n, f"{n} does not apply to spec={kind!r} (it belongs to spec={other!r})")
    try:
        if kind == "eps":
            if "eps" not in opts:
                raise ctx.error("eps", "spec 'eps' needs eps (in the job or in [defaults])")
            eps = _number(ctx, "eps", opts["eps"], nonneg=True)
            outputs = opts.get("outputs")
            if outputs is not None:
                if not isinstance(outputs, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in outputs):
                    raise ctx.error("outputs", f"outputs must be a list of output indices, got outputs={outputs!r}")
            return EpsEquivalence(eps, outputs=outputs).to_dict()
        if kind == "top1":
            return Top1Equivalence(margin=_number(ctx, "margin", opts.get("margin", 0.0), nonneg=True)).to_dict()
        return DecisionEquivalence(
            tau_f=_number(ctx, "tau_f", opts.get("tau_f", 0.0)), tau_g=_number(ctx, "tau_g", opts.get("tau_g", 0.0)),
            gamma=_number(ctx, "gamma", opts.get("gamma", 0.0), nonneg=True)).to_dict()
    except SpecError as exc:
        raise ctx.error(None, str(exc)) from None


def _build_box(ctx: _Ctx, opts: dict, base: Path, job: JobSpec) -> None:
    has_box, has_vnn = "box" in opts, "vnnlib" in opts
    if has_box and has_vnn and not (opts.get("__box_from_defaults") or opts.get("__vnnlib_from_defaults")):
        raise ctx.error("vnnlib", "give either box or vnnlib, not both")
    if has_box and has_vnn:  # one of them comes from [defaults]: the job's own wins
        if opts.get("__box_from_defaults"):
            has_box = False
        else:
            has_vnn = False
    if not has_box and not has_vnn:
        raise ctx.error(None, "no input box: give box = 'lo:hi,...' or vnnlib = 'FILE' (in the job or in [defaults])")
    if has_box:
        b = opts["box"]
        if isinstance(b, str):
            from ..box import Box
            from ..errors import BoxError

            try:
                Box.from_string(b)
            except BoxError as exc:
                raise ctx.error("box", f"box: {exc}") from None
            job.box_text = b
        elif isinstance(b, dict):
            _check_keys(ctx, b, ("lo", "hi"), "box")
            lo, hi = b.get("lo"), b.get("hi")
            for nm, arr in (("lo", lo), ("hi", hi)):
                if not isinstance(arr, list) or not arr or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) for v in arr):
                    raise ctx.error("box", f"box.{nm} must be a non-empty list of numbers, got {arr!r}")
            from ..box import Box
            from ..errors import BoxError

            try:
                Box(lo, hi)
            except BoxError as exc:
                raise ctx.error("box", f"box: {exc}") from None
            job.box_lo, job.box_hi = [float(v) for v in lo], [float(v) for v in hi]
        else:
            raise ctx.error("box", f"box must be a string 'lo:hi,...' or a table {{lo=[...], hi=[...]}}, got {b!r}")
    else:
        p = _resolve(base, _str(ctx, "vnnlib", opts["vnnlib"]))
        if not p.is_file():
            raise ctx.error("vnnlib", f"vnnlib file not found: {p}")
        job.vnnlib = str(p)


def _model_path(ctx: _Ctx, key: str, base: Path, value) -> str:
    p = _resolve(base, _str(ctx, key, value))
    if not p.is_file():
        raise ctx.error(key, f"{key}: model file not found: {p}")
    from ..io import FORMATS

    if p.suffix.lower() not in FORMATS.values():
        raise ctx.error(key, f"{key}: cannot tell the model format of {p.name}; use .onnx, .nnet or .npz")
    return str(p)


def _run_options(ctx, opts, job) -> None:
    """The options every kind of job has: method, timeout, memory_limit."""
    job.method = _choice(ctx, "method", opts.get("method", "auto"), METHODS)
    job.timeout = _number(ctx, "timeout", opts.get("timeout", DEFAULT_TIMEOUT), positive=True)
    try:
        job.memory_limit = parse_memory(opts.get("memory_limit", DEFAULT_MEMORY))
    except ValueError as exc:
        raise ctx.error("memory_limit", f"memory_limit {exc}") from None


def _job_from_options(ctx: _Ctx, opts: dict, base: Path, name: str, f: str, g: str | None) -> JobSpec:
    job = JobSpec(name=name, kind="pair", f=f, g=g, where=ctx.where())
    if "transform" in opts:
        if g is not None:
            raise ctx.error("transform", "give either g or transform, not both")
        job.kind = "transform"
        job.transform = _str(ctx, "transform", opts["transform"])
        t_opts = opts.get("transform_options", {})
        if not isinstance(t_opts, dict):
            raise ctx.error("transform_options", f"transform_options must be a table, got {t_opts!r}")
        job.transform_options = dict(t_opts)
    elif g is None:
        raise ctx.error("g", "a job needs g (the second model) or transform")
    elif "transform_options" in opts:
        raise ctx.error("transform_options", "transform_options needs transform")
    job.spec = _build_spec(ctx, opts, transform=job.kind == "transform")
    _build_box(ctx, opts, base, job)
    _run_options(ctx, opts, job)
    if opts.get("node_limit") is not None:
        job.node_limit = _int(ctx, "node_limit", opts["node_limit"], minimum=1)
    job.seed = _int(ctx, "seed", opts.get("seed", 0), minimum=0)
    job.certificate = _bool(ctx, "certificate", opts.get("certificate", False))
    job.fold_normalization = _bool(ctx, "fold_normalization", opts.get("fold_normalization", False))
    job.drop_softmax = _bool(ctx, "drop_softmax", opts.get("drop_softmax", False))
    if job.fold_normalization and not job.f.lower().endswith(".nnet"):
        raise ctx.error("fold_normalization", "fold_normalization applies to .nnet models only")
    if job.drop_softmax and not job.f.lower().endswith(".onnx"):
        raise ctx.error("drop_softmax", "drop_softmax applies to ONNX models only")
    if "fault" in opts:
        if os.environ.get(FAULTS_ENV) != "1":
            raise ctx.error("fault", f"fault is a testing option; set {FAULTS_ENV}=1 to use it")
        job.fault = _choice(ctx, "fault", opts["fault"], FAULTS)
    return job


def _template(ctx: _Ctx, key: str, tmpl: str, values: dict) -> str:
    """Fill ``{stem}``-style fields by plain substitution: no format specs, conversions or
    attribute access (a template is user data, never a format program)."""
    use = f"use {{{'}, {'.join(_TEMPLATE_KEYS)}}}"
    out = []
    try:
        parts = list(string.Formatter().parse(tmpl))
    except ValueError as exc:
        raise ctx.error(key, f"{key}: bad template {tmpl!r} ({exc}); {use}") from None
    for literal, field_name, spec, conversion in parts:
        out.append(literal)
        if field_name is None:
            continue
        if field_name not in _TEMPLATE_KEYS or spec or conversion:
            raise ctx.error(key, f"{key}: bad template {tmpl!r} (field {{{field_name}"
                                 f"{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                                 f"is not allowed); {use}")
        out.append(str(values[field_name]))
    return "".join(out)


def _expand_job(ctx: _Ctx, opts: dict, base: Path) -> list[JobSpec]:
    if "f" not in opts:
        raise ctx.error(None, "a job needs f (the first model)")
    f_raw = _str(ctx, "f", opts["f"])
    if not _GLOB_CHARS.search(f_raw):
        name = _str(ctx, "name", opts["name"]) if "name" in opts else None
        if name is None:
            raise ctx.error(None, "a job needs a name")
        if "{" in name:
            raise ctx.error("name", f"name {name!r} is a template but f is not a glob pattern")
        f = _model_path(ctx, "f", base, f_raw)
        g = _model_path(ctx, "g", base, opts["g"]) if "g" in opts else None
        return [_job_from_options(ctx, opts, base, name, f, g)]
    # a glob: one job per match; g is a pairing template
    pattern = str(_resolve(base, f_raw))
    matches = sorted(set(_glob.glob(pattern, recursive=True)))
    matches = [m for m in matches if os.path.isfile(m)]
    if not matches:
        raise ctx.error("f", f"f: the pattern {f_raw!r} matches no file (in {base})")
    g_tmpl = opts.get("g")
    if g_tmpl is not None:
        g_tmpl = _str(ctx, "g", g_tmpl)
    name_tmpl = _str(ctx, "name", opts.get("name", "{stem}"))
    on_missing = _choice(ctx, "missing", opts.get("missing", "error"), ("error", "skip"))
    pre, post = f_raw.split("*", 1) if "*" in f_raw else ("", "")

    def values(path: str) -> dict:
        p = Path(path)
        stem = p.stem
        m = Path(path).name
        # {match}: the part of the name the first '*' stood for (if the pattern's last part has one)
        last = Path(f_raw).name
        match = stem
        if "*" in last:
            a, _, b = last.partition("*")
            if m.startswith(a) and m.endswith(b.replace("*", "")) and "*" not in b and "?" not in a + b:
                match = m[len(a):len(m) - len(b)] if b else m[len(a):]
        return {"stem": stem, "name": p.name, "suffix": p.suffix, "dir": str(p.parent), "match": match}

    partners: dict[str, str | None] = {}
    for m in matches:
        if g_tmpl is None:
            partners[m] = None
            continue
        g_rel = _template(ctx, "g", g_tmpl, values(m))
        gp = Path(g_rel) if Path(g_rel).is_absolute() else Path(m).parent / g_rel
        partners[m] = str(gp)
    # a file that is some other match's partner is a g, not an f (X.onnx / X-mirror.onnx both match *.onnx)
    g_set = {os.path.normpath(p) for p in partners.values() if p}
    jobs: list[JobSpec] = []
    names: set[str] = set()
    for m in matches:
        if os.path.normpath(m) in g_set:
            continue
        gp = partners[m]
        if gp is not None and not os.path.isfile(gp):
            if on_missing == "skip":
                continue
            raise ctx.error("g", f"g: no partner for {Path(m).name}: expected {gp} (set missing = \"skip\" to skip)")
        name = _template(ctx, "name", name_tmpl, values(m))
        if name in names:
            raise ctx.error("name", f"name template {name_tmpl!r} gives the name {name!r} twice")
        names.add(name)
        sub = _Ctx(ctx.file, ctx.lines, ctx.table, ctx.index, f"{ctx.label} [{Path(m).name}]", ctx.csv_line)
        f = _model_path(sub, "f", base, m)
        g = _model_path(sub, "g", base, gp) if gp is not None else None
        jobs.append(_job_from_options(sub, opts, base, name, f, g))
    if not jobs:
        raise ctx.error("f", f"f: the pattern {f_raw!r} gives no job (every match was a partner or had none)")
    return jobs


def _merge(defaults: dict, own: dict) -> dict:
    opts = dict(defaults)
    opts.update(own)
    opts["__defaults_keys"] = set(defaults)
    opts["__job_keys"] = set(own)
    if "box" in defaults and "box" not in own and "vnnlib" in own:
        opts["__box_from_defaults"] = True
    if "vnnlib" in defaults and "vnnlib" not in own and "box" in own:
        opts["__vnnlib_from_defaults"] = True
    return opts


# -- instances.csv --------------------------------------------------------------------------------

_PROJECT_COLUMNS = ("id", "property", "target_output", "net", "net2", "eps", "box_lo_norm", "box_hi_norm")


def _find_model(ctx: _Ctx, column: str, name: str, search: list[Path], *, deep: Path | None = None) -> str:
    """The model file ``name`` in the first ``search`` folder holding it; with ``deep``, else the
    single file of that name in the sub-folders of ``deep`` (two levels down)."""
    if not name:
        raise ctx.error(column, f"column {column!r} is empty")
    p = Path(name)
    if p.is_absolute():
        cands = [p]
    else:
        cands = [d / p for d in search]
    for c in cands:
        if c.is_file():
            return str(c)
    if deep is not None and not p.is_absolute():
        found = sorted({str(c) for pat in (f"*/{name}", f"*/*/{name}") for c in deep.glob(pat) if c.is_file()})
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ctx.error(column, f"column {column!r}: model {name!r} is ambiguous: {', '.join(found[:3])}; "
                                    f"name the folders with search = [...]")
    raise ctx.error(column, f"column {column!r}: model {name!r} not found in {', '.join(str(d) for d in search)}")


def read_instances_csv(path, *, search=None, target: str = "target", select=None, limit=None,
                       options: dict | None = None, g_template: str | None = None,
                       where: str | None = None, csv_timeout_wins: bool | None = None) -> list[JobSpec]:
    """Jobs from an ``instances.csv``.

    Two layouts are read:

    * this project's (a header ``id,property,target_output,net,net2,eps,box_lo_norm,box_hi_norm``;
      boxes as ``;``-separated numbers): one eps job per row on outputs ``[target_output]``
      (``target="target"``, the reference reading) or on every output (``target="all"``);
      without ``search``, a model not next to the CSV is looked for in its sub-folders;
    * VNN-COMP's (no header, rows ``model,vnnlib[,timeout]``): g comes from ``g_template``
      (e.g. ``'{stem}_16bit{suffix}'``), the box from the VNN-LIB file, eps from ``options``;
    * VNN-COMP 2026's (rows ``NETWORKS,QUERY[,TIMEOUT]`` whose first column names the networks,
      ``f=a.onnx;g=b.onnx``, read by :func:`relucert.vnncomp.instances.parse_networks`; any row
      whose first column holds ``=``, ``;`` or ``|``): one ``kind="query"`` job per row, decided by
      :func:`relucert.vnncomp.solve.solve_query` on the query's own assertions (sat ->
      NOT_EQUIVALENT with the counterexample, unsat -> EQUIVALENT).  Spec and box fields of
      ``options`` do not apply to these rows; the job's identity holds the query file's SHA-256.
      The two VNN-COMP layouts may be mixed; ``g_template`` is needed only for ``model,...`` rows.

    ``options`` holds job fields (``eps``, ``timeout``, ...) applied to every row; a VNN-COMP
    row's timeout column wins over ``options["timeout"]`` when ``csv_timeout_wins`` (default:
    when ``options`` has no timeout).  Errors name the CSV line and column.
    """
    path = Path(path)
    options = dict(options or {})
    file = str(path)
    if not path.is_file():
        raise ManifestError(f"{where or file}: instances file not found: {path}")
    base = path.parent
    search_dirs = [base] if not search else [(_resolve(base, s) if not Path(s).is_absolute() else Path(s)) for s in search]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{file}: not a UTF-8 text file") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ManifestError(f"{file}: empty instances file")
    if target not in ("target", "all"):
        raise ManifestError(f"{where or file}: target must be 'target' or 'all', got target={target!r}")
    patterns = [select] if isinstance(select, str) else list(select or [])
    header = [c.strip() for c in rows[0]]
    jobs: list[JobSpec] = []
    seen: dict[str, int] = {}
    if header[:len(_PROJECT_COLUMNS)] == list(_PROJECT_COLUMNS):
        col = {c: i for i, c in enumerate(header)}
        for lineno, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue
            ctx = _Ctx(file, None, "", 0, "", csv_line=lineno)
            if len(row) != len(header):
                raise ctx.error(None, f"row has {len(row)} columns, the header has {len(header)}")
            r = {c: row[i].strip() for c, i in col.items()}
            ident = r["id"]
            if not ident:
                raise ctx.error("id", "column 'id' is empty")
            ctx.label = f"instance {ident!r}"
            if ident in seen:
                raise ctx.error("id", f"column 'id': duplicate id {ident!r} (first on line {seen[ident]})")
            seen[ident] = lineno
            if patterns and not any(_fnmatch(ident, p) for p in patterns):
                continue
            try:
                eps = float(r["eps"])
            except ValueError:
                raise ctx.error("eps", f"column 'eps' must be a number, got {r['eps']!r}") from None
            try:
                t = int(r["target_output"])
            except ValueError:
                raise ctx.error("target_output", f"column 'target_output' must be an integer, got {r['target_output']!r}") from None
            try:
                lo = [float(v) for v in r["box_lo_norm"].split(";")]
                hi = [float(v) for v in r["box_hi_norm"].split(";")]
            except ValueError:
                raise ctx.error("box_lo_norm", "columns 'box_lo_norm'/'box_hi_norm' must be ';'-separated numbers") from None
            f = _find_model(ctx, "net", r["net"], search_dirs, deep=None if search else base)
            g = _find_model(ctx, "net2", r["net2"], search_dirs, deep=None if search else base)
            opts = dict(options)
            opts.setdefault("eps", eps)
            opts["eps"] = eps
            if target == "target":
                opts["outputs"] = [t]
            opts["box"] = {"lo": lo, "hi": hi}
            opts.pop("vnnlib", None)
            jobs.append(_job_from_options(ctx, _merge({}, opts), base, ident, f, g))
            if limit is not None and len(jobs) >= limit:
                break
        return jobs
    # VNN-COMP layout: model,vnnlib[,timeout], no header; or the 2026 layout whose first
    # column names the networks ('f=a.onnx;g=b.onnx,query.vnnlib,timeout'): one query job per row
    query_rows = [i for i, row in enumerate(rows) if row and _is_query_row(row)]
    if g_template is None and len(query_rows) < sum(
            1 for i, row in enumerate(rows) if row and any(c.strip() for c in row) and not _is_comment_or_header(i, row)):
        raise ManifestError(
            f"{where or file}: a VNN-COMP instances.csv (rows 'model,vnnlib,timeout') needs g = "
            f"'TEMPLATE' naming each model's partner, e.g. g = '{{stem}}_16bit{{suffix}}'")
    for lineno, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row) or _is_comment_or_header(lineno - 1, row):
            continue
        ctx = _Ctx(file, None, "", 0, "", csv_line=lineno)
        if _is_query_row(row):
            job = _query_job(ctx, row, options, search_dirs, seen, patterns, csv_timeout_wins)
            if job is not None:
                jobs.append(job)
                if limit is not None and len(jobs) >= limit:
                    break
            continue
        if len(row) not in (2, 3):
            raise ctx.error(None, f"expected 'model,vnnlib[,timeout]', got {len(row)} columns")
        model, prop = row[0].strip(), row[1].strip()
        f = _find_model(ctx, "model", model, search_dirs)
        p = Path(f)
        vals = {"stem": p.stem, "name": p.name, "suffix": p.suffix, "dir": str(p.parent), "match": p.stem}
        g = _find_model(ctx, "g", _template(ctx, "g", g_template, vals), [p.parent])
        ident = f"{Path(model).stem}+{Path(prop).stem}"
        ctx.label = f"instance {ident!r}"
        if ident in seen:
            ident = f"{ident}#{lineno}"
        seen[ident] = lineno
        if patterns and not any(_fnmatch(ident, pt) for pt in patterns):
            continue
        opts = dict(options)
        opts.pop("box", None)
        opts["vnnlib"] = str(_find_model_file(ctx, prop, search_dirs))
        if len(row) == 3 and row[2].strip() and (csv_timeout_wins if csv_timeout_wins is not None
                                                   else "timeout" not in options):
            try:
                opts["timeout"] = float(row[2])
            except ValueError:
                raise ctx.error("timeout", f"column 3 (timeout) must be a number, got {row[2]!r}") from None
        jobs.append(_job_from_options(ctx, _merge({}, opts), base, ident, f, g))
        if limit is not None and len(jobs) >= limit:
            break
    return jobs


def _is_query_row(row: list) -> bool:
    """A 2026-style row: its first column names the networks (``f=a.onnx;g=b.onnx``)."""
    return bool(row) and any(ch in row[0] for ch in "=;|")


def _is_comment_or_header(index: int, row: list) -> bool:
    cells = [c.strip() for c in row]
    if cells and cells[0].startswith("#"):
        return True
    return index == 0 and len(cells) >= 2 and cells[1].lower() in ("vnnlib", "property", "spec", "query")


#: the fields a query row uses (besides timeout); spec and box fields do not apply: the query decides
_QUERY_IGNORED = set(_SPEC_FIELDS) | {"spec", "box", "vnnlib", "g", "name", "f"}


def _query_model(ctx: _Ctx, name: str, search: list[Path]) -> str:
    from ..io import FORMATS

    p = Path(name)
    stem = p.name[:-3] if p.name.lower().endswith(".gz") else p.name
    if Path(stem).suffix.lower() not in FORMATS.values():
        raise ctx.error("networks", f"column 1 (networks): cannot tell the model format of {name!r}; "
                                    f"use .onnx, .nnet or .npz (optionally .gz)")
    for d in search:
        c = p if p.is_absolute() else d / p
        if c.is_file():
            return str(c)
    raise ctx.error("networks", f"column 1 (networks): model {name!r} not found in "
                                f"{', '.join(str(d) for d in search)}")


def _file_sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _query_job(ctx: _Ctx, row: list, options: dict, search: list[Path], seen: dict, patterns: list,
               csv_timeout_wins: bool | None) -> JobSpec | None:
    """One ``kind="query"`` job from a 2026-style row ``NETWORKS,QUERY[,TIMEOUT]``."""
    from ..vnncomp.instances import parse_networks

    cells = [c.strip() for c in row]
    if len(cells) not in (2, 3):
        raise ctx.error(None, f"expected 'NETWORKS,QUERY[,TIMEOUT]', got {len(cells)} columns")
    nets = parse_networks(cells[0], where=f"{ctx.where()}: column 1 (networks)")
    if len(nets) > 2:
        raise ctx.error("networks", f"column 1 (networks): {len(nets)} networks listed; relucert decides "
                                    f"queries of one or two networks")
    resolved = [[n, _query_model(ctx, p, search)] for n, p in nets]
    if not cells[1]:
        raise ctx.error("query", "column 2 (query) is empty")
    q = _find_model_file(ctx, cells[1], search)
    stems = []
    for _, p in nets:
        nm = Path(p).name
        nm = nm[:-3] if nm.lower().endswith(".gz") else nm
        stems.append(Path(nm).stem)
    qn = Path(cells[1]).name
    for ext in (".gz", ".vnnlib"):
        if qn.lower().endswith(ext):
            qn = qn[:-len(ext)]
    ident = "+".join(stems + [qn])
    ctx.label = f"instance {ident!r}"
    if ident in seen:
        ident = f"{ident}#{ctx.csv_line}"
    seen[ident] = ctx.csv_line
    if patterns and not any(_fnmatch(ident, pt) for pt in patterns):
        return None
    opts = {k: v for k, v in options.items() if k not in _QUERY_IGNORED and not k.startswith("__")}
    if "transform" in opts or "transform_options" in opts:
        raise ctx.error("transform", "a query row (networks named in column 1) takes no transform")
    if len(cells) == 3 and cells[2] and (csv_timeout_wins if csv_timeout_wins is not None
                                         else "timeout" not in options):
        try:
            opts["timeout"] = float(cells[2])
        except ValueError:
            raise ctx.error("timeout", f"column 3 (timeout) must be a number, got {cells[2]!r}") from None
    digest = _file_sha256(str(q))
    job = JobSpec(name=ident, kind="query", f=resolved[0][1], g=resolved[1][1] if len(resolved) > 1 else None,
                  networks=resolved, query=str(q), query_digest=digest,
                  spec={"kind": "query", "query": Path(q).name, "sha256": digest}, where=ctx.where())
    _run_options(ctx, opts, job)
    if opts.get("node_limit") is not None:
        raise ctx.error("node_limit", "node_limit does not apply to query jobs (the query's time limit does)")
    job.seed = _int(ctx, "seed", opts.get("seed", 0), minimum=0)
    if _bool(ctx, "certificate", opts.get("certificate", False)):
        raise ctx.error("certificate", "certificate = true is not supported for query jobs")
    job.fold_normalization = _bool(ctx, "fold_normalization", opts.get("fold_normalization", False))
    job.drop_softmax = _bool(ctx, "drop_softmax", opts.get("drop_softmax", False))
    if "fault" in opts:
        if os.environ.get(FAULTS_ENV) != "1":
            raise ctx.error("fault", f"fault is a testing option; set {FAULTS_ENV}=1 to use it")
        job.fault = _choice(ctx, "fault", opts["fault"], FAULTS)
    return job


def _find_model_file(ctx: _Ctx, name: str, search: list[Path]) -> Path:
    for d in search:
        c = Path(name) if Path(name).is_absolute() else d / name
        if c.is_file():
            return c
    raise ctx.error("vnnlib", f"vnnlib file {name!r} not found in {', '.join(str(d) for d in search)}")


def _fnmatch(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


# -- the manifest ---------------------------------------------------------------------------------

def _toml_loads(text: str, file: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ManifestError(f"{file}: reading TOML on Python 3.10 needs the 'tomli' package "
                                f"(pip install tomli)") from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ManifestError(f"{file}: TOML nesting is too deep") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            msg = msg[:m.start()].strip()
            raise ManifestError(f"{file}:{m.group(1)}: TOML syntax error at column {m.group(2)}: {msg}") from None
        raise ManifestError(f"{file}: TOML syntax error: {msg}") from None


_TOP_KEYS = ("defaults", "job", "instances", "db")


def load_manifest(path) -> Manifest:
    """Read and check a manifest: a ``.toml`` file or an ``instances.csv``.

    Every path is resolved against the manifest's folder; every model and box file must exist.
    Raises :class:`~relucert.errors.ManifestError` naming ``FILE:LINE``, the job and the field.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise ManifestError(f"{file}: manifest not found")
    if path.suffix.lower() == ".csv":
        return Manifest(path=str(path.resolve()), jobs=_unique(read_instances_csv(path, options={"timeout": DEFAULT_TIMEOUT},
                                                                                    csv_timeout_wins=True)))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{file}: not a UTF-8 text file") from None
    data = _toml_loads(text, file)
    lines = _Lines(text)
    base = path.resolve().parent
    top = _Ctx(file, lines, "", 0, "")
    _check_keys(top, data, _TOP_KEYS, "the manifest (expected [defaults], [[job]], [[instances]], db)")
    defaults = data.get("defaults", {})
    dctx = _Ctx(file, lines, "defaults", 0, "[defaults]")
    if not isinstance(defaults, dict):
        raise dctx.error(None, "defaults must be a table [defaults]")
    _check_keys(dctx, defaults, [k for k in JOB_FIELDS if k not in ("name", "f", "g")], "[defaults]")
    job_tables = data.get("job", [])
    if not isinstance(job_tables, list):
        raise top.error("job", "jobs must be written as [[job]] tables")
    inst_tables = data.get("instances", [])
    if isinstance(inst_tables, dict):
        inst_tables = [inst_tables]
    if not job_tables and not inst_tables:
        raise top.error(None, "the manifest lists no job: add [[job]] tables or an [[instances]] table")
    jobs: list[JobSpec] = []
    for i, t in enumerate(job_tables):
        label = f"job {i + 1}" + (f" ({t['name']!r})" if isinstance(t, dict) and isinstance(t.get("name"), str) else "")
        ctx = _Ctx(file, lines, "job", i, label)
        if not isinstance(t, dict):
            raise ctx.error(None, "each [[job]] must be a table")
        _check_keys(ctx, t, list(JOB_FIELDS) + ["missing"], "[[job]]")
        jobs.extend(_expand_job(ctx, _merge(defaults, t), base))
    for i, t in enumerate(inst_tables):
        ctx = _Ctx(file, lines, "instances", i, f"instances {i + 1}")
        if not isinstance(t, dict):
            raise ctx.error(None, "each [[instances]] must be a table")
        allowed = list(INSTANCE_FIELDS) + [k for k in JOB_FIELDS if k not in ("name", "f", "box", "vnnlib")]
        _check_keys(ctx, t, allowed, "[[instances]]")
        if "csv" not in t:
            raise ctx.error(None, "an [[instances]] table needs csv = 'FILE'")
        csv_path = _resolve(base, _str(ctx, "csv", t["csv"]))
        if not csv_path.is_file():
            raise ctx.error("csv", f"csv: instances file not found: {csv_path}")
        search = t.get("search")
        if search is not None:
            if isinstance(search, str):
                search = [search]
            if not isinstance(search, list) or not all(isinstance(s, str) for s in search):
                raise ctx.error("search", f"search must be a folder or a list of folders, got {search!r}")
            search = [str(_resolve(base, s)) for s in search]
        limit = t.get("limit")
        if limit is not None:
            limit = _int(ctx, "limit", limit, minimum=1)
        select = t.get("select")
        if select is not None and not (isinstance(select, str) or (
                isinstance(select, list) and all(isinstance(s, str) for s in select))):
            raise ctx.error("select", f"select must be a pattern or a list of patterns, got {select!r}")
        target = _choice(ctx, "target", t.get("target", "target"), ("target", "all"))
        opts = {k: v for k, v in defaults.items() if k not in ("box", "vnnlib")}
        opts.update({k: v for k, v in t.items() if k not in INSTANCE_FIELDS and k != "g"})
        g_tmpl = t.get("g")
        jobs.extend(read_instances_csv(csv_path, search=search, target=target, select=select, limit=limit,
                                       options=opts, g_template=g_tmpl, where=ctx.where("csv"),
                                       csv_timeout_wins="timeout" not in t))
    db = data.get("db")
    if db is not None:
        db = str(_resolve(base, _str(top, "db", db)))
    return Manifest(path=str(path.resolve()), jobs=_unique(jobs), db=db)


def _unique(jobs: list[JobSpec]) -> list[JobSpec]:
    seen: dict[str, JobSpec] = {}
    for j in jobs:
        if j.name in seen:
            raise ManifestError(f"{j.where}: job name {j.name!r} is used twice (first at {seen[j.name].where})")
        seen[j.name] = j
    return jobs
