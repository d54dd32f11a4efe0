"""The worker side of a zoo run: execute one job (a JSON payload) and describe the outcome.

A worker is a fresh interpreter (``python -m relucert.zoo.worker``) started by the runner.  It
reads one JSON job per line on stdin and writes one JSON result per line on the file descriptor
given by ``--result-fd`` (so solver logs on stdout/stderr never mix with results).  Before each
job it lowers its address-space limit (``RLIMIT_AS``) to the job's memory limit; an allocation
past it raises ``MemoryError``, which is reported as ERROR (out of memory) after which the worker
exits so the runner starts a clean one.  The runner kills a worker whose job runs past its hard
deadline.  A worker whose parent dies exits too (``PR_SET_PDEATHSIG`` on Linux and a watchdog).

:func:`execute_job` is also usable in-process (no limits): ``engine="inline"``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback

__all__ = ["execute_job", "main", "lookup_transform", "build_spec"]

#: extra transforms by name, consulted after ``relucert.transforms`` (tests, plug-ins)
EXTRA_TRANSFORMS: dict = {}


def _set_memory_limit(limit: int | None):
    """Lower the soft RLIMIT_AS to ``limit`` bytes; returns the previous (soft, hard) or None."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if limit is None:
        return (soft, hard)
    new = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    return (soft, hard)


def _restore_memory_limit(prev) -> None:
    if prev is None:
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, prev)


def build_spec(d: dict):
    """A relucert spec object from its ``to_dict`` form."""
    from ..errors import SpecError
    from ..verify.spec import DecisionEquivalence, EpsEquivalence, Top1Equivalence

    kind = d.get("kind")
    if kind == "eps":
        return EpsEquivalence(d["eps"], outputs=d.get("outputs"))
    if kind == "top1":
        return Top1Equivalence(margin=d.get("margin", 0.0))
    if kind == "decision":
        return DecisionEquivalence(tau_f=d.get("tau_f", 0.0), tau_g=d.get("tau_g", 0.0), gamma=d.get("gamma", 0.0))
    raise SpecError(f"unknown spec kind {kind!r}; expected eps, top1 or decision")


def _known_transforms() -> list[str]:
    names = set(EXTRA_TRANSFORMS)
    try:
        from .. import transforms as T  # noqa: F401
    except ImportError:
        return sorted(names)
    for attr in ("REGISTRY", "TRANSFORMS", "registry"):
        reg = getattr(T, attr, None)
        if isinstance(reg, dict):
            names.update(reg)
    for attr in ("names", "available", "list_transforms"):
        fn = getattr(T, attr, None)
        if callable(fn):
            try:
                names.update(fn())
            except Exception:  # pragma: no cover - defensive
                pass
    return sorted(names)


def lookup_transform(name: str):
    """The transform registered as ``name``: an object with ``apply(net, box) -> (net, claim)``
    (or a callable of that signature).  Raises :class:`SpecError` naming the known transforms."""
    from ..errors import SpecError

    if name in EXTRA_TRANSFORMS:
        return EXTRA_TRANSFORMS[name]
    try:
        from .. import transforms as T
    except ImportError as exc:
        if exc.name not in ("relucert.transforms",):
            raise
        raise SpecError(f"unknown transform {name!r}: relucert.transforms is not available in this "
                        f"version{'; known: ' + ', '.join(_known_transforms()) if EXTRA_TRANSFORMS else ''}") from None
    for attr in ("get", "get_transform", "lookup"):
        fn = getattr(T, attr, None)
        if callable(fn):
            try:
                t = fn(name)
            except (KeyError, LookupError, ValueError):
                t = None
            if t is not None:
                return t
    for attr in ("REGISTRY", "TRANSFORMS", "registry"):
        reg = getattr(T, attr, None)
        if isinstance(reg, dict) and name in reg:
            return reg[name]
    known = _known_transforms()
    raise SpecError(f"unknown transform {name!r}; known transforms: {', '.join(known) or '(none)'}")


def _apply_transform(t, net, box, options: dict):
    if hasattr(t, "apply"):
        out = t.apply(net, box, **options) if options else t.apply(net, box)
    elif callable(t):
        out = t(net, box, **options) if options else t(net, box)
    else:
        from ..errors import SpecError

        raise SpecError(f"transform {t!r} has no apply(net, box)")
    if isinstance(out, tuple) and len(out) == 2:
        return out
    return out, None


def _claim_dict(claim):
    if claim is None:
        return None
    if hasattr(claim, "to_dict"):
        try:
            return claim.to_dict()
        except Exception:  # pragma: no cover - defensive
            pass
    if isinstance(claim, dict):
        return {str(k): (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in claim.items()}
    return str(claim)


def _load(path: str, payload: dict):
    from .. import io as rio

    if path.lower().endswith(".gz"):  # NAME.onnx.gz, as VNN-COMP ships models
        from ..vnncomp.run import _load_model

        return _load_model(path)
    fmt = rio.model_format(path)
    opts = {}
    if payload.get("fold_normalization") and fmt == "nnet":
        opts["fold_normalization"] = True
    if payload.get("drop_softmax") and fmt == "onnx":
        opts["drop_softmax"] = True
    return rio.load(path, **opts)


def resolve_box(payload: dict, n_inputs: int, n_outputs: int | None = None):
    """The job's input box for networks with ``n_inputs`` inputs (from ``box_text``, the
    ``box_lo``/``box_hi`` table or the ``vnnlib`` file); checks the spec's output indices too."""
    from ..box import Box
    from ..errors import BoxError

    if payload.get("kind") == "query":  # the query's own box (its networks' shapes: checked on binding)
        return _read_query(payload).box
    if payload.get("box_text") is not None:
        box = Box.from_string(payload["box_text"], dim=n_inputs)
    elif payload.get("box_lo") is not None:
        box = Box(payload["box_lo"], payload["box_hi"])
    elif payload.get("vnnlib"):
        from ..io import read_vnnlib_box

        box = read_vnnlib_box(payload["vnnlib"], n_inputs)
    else:
        raise BoxError("the job has no input box")
    box.check_dim(n_inputs)
    outs = (payload.get("spec") or {}).get("outputs")
    if n_outputs is not None and outs is not None and any(k >= n_outputs for k in outs):
        raise BoxError(f"outputs {outs} out of range for networks with {n_outputs} outputs")
    return box


def _read_query(payload: dict):
    """The job's VNN-LIB query, after checking its file still has the hash the manifest saw."""
    from ..errors import SpecError
    from ..io.vnnlib2 import read_query
    from .manifest import _file_sha256

    path = payload["query"]
    want = payload.get("query_digest")
    if want and _file_sha256(path) != want:
        raise SpecError(f"{path}: the query file changed since the manifest was read "
                        f"(sha256 differs from {want[:12]}); read the manifest again")
    return read_query(path)


def _bind_query_models(query, networks: list, nets: list) -> dict:
    """``{declared name: Network}``: named items bind by name, bare paths bind the declared
    networks in order (as :func:`relucert.vnncomp.run.bind_models`)."""
    from ..errors import SpecError

    names = [n for n, _ in networks]
    if all(n is not None for n in names):
        return dict(zip(names, nets))
    if any(n is not None for n in names):
        raise SpecError("name every network (NAME=PATH) or none of them")
    decl = query.names
    required = [d.name for d in query.networks if d.equiv is None or d.equiv[0] != "equal-to"]
    if len(nets) > len(decl) or len(nets) < len(required):
        raise SpecError(f"{len(nets)} network(s) given but the query declares {len(decl)} "
                        f"({', '.join(decl)}), of which {len(required)} need a model")
    return dict(zip(decl if len(nets) == len(decl) else required, nets))


def _query_counterexample(outcome) -> dict | None:
    """The stored counterexample of a ``sat`` query: the exact point, each network's exact
    outputs (``f``, ``g``), the largest |f_k - g_k| and the query's own assignment."""
    from fractions import Fraction

    from ..verify.result import fmt_number

    if outcome.x is None:
        return None
    x = [v if isinstance(v, Fraction) else Fraction(v) for v in outcome.x]
    part_ce = None
    for r in outcome.results:
        if r.counterexample is not None and [Fraction(v) for v in r.counterexample.x] == x:
            part_ce = r.counterexample
    ce = {"x": [fmt_number(v) for v in x], "x_decimal": [repr(float(v)) for v in x],
          "assignment": [[k, fmt_number(v)] for k, v in outcome.assignment or []], "detail": outcome.reason}
    if part_ce is not None:
        d = part_ce.to_dict()
        ce.update(f=d["f"], g=d["g"], value=d["value"], detail=d["detail"])
        return ce
    # found by the exact search: the outputs of the declared networks at their (tied) inputs
    ys = {}
    for k, v in outcome.assignment or []:
        ys.setdefault(k.split("[")[0], []).append(v)
    outs = [vals for name, vals in ys.items() if name.startswith("Y")]
    if len(outs) >= 1:
        ce["f"] = [fmt_number(v) for v in outs[0]]
    if len(outs) >= 2:
        ce["g"] = [fmt_number(v) for v in outs[1]]
        if len(outs[0]) == len(outs[1]):
            ce["value"] = fmt_number(max(abs(a - b) for a, b in zip(outs[0], outs[1])))
    return ce


def _execute_query(payload: dict, out: dict, t0: float) -> None:
    """A ``kind="query"`` job: :func:`relucert.vnncomp.solve.solve_query` on the query's networks.
    sat -> NOT_EQUIVALENT (the exact counterexample), unsat -> EQUIVALENT, a time limit ->
    UNKNOWN with ``stop_reason="time_limit"``, unknown -> UNKNOWN; a sat of an inverted (band)
    query is UNKNOWN with the witness in the note."""
    from ..vnncomp.solve import solve_query

    query = _read_query(payload)
    networks = payload.get("networks") or [[None, payload["f"]]] + ([[None, payload["g"]]] if payload.get("g") else [])
    cache: dict = {}
    nets = []
    for _, path in networks:
        if path not in cache:
            cache[path] = _load(path, payload)
        nets.append(cache[path])
    out["f_digest"] = nets[0].digest
    out["g_digest"] = nets[1].digest if len(nets) > 1 else None
    for side, want, got in (("f", payload.get("f_digest"), out["f_digest"]),
                            ("g", payload.get("g_digest"), out["g_digest"])):
        if want and got and want != got:
            raise RuntimeError(f"model {side} changed on disk since the run started "
                               f"(digest {got[:12]}, expected {want[:12]})")
    models = _bind_query_models(query, networks, nets)
    out["box_lo"], out["box_hi"] = [float(v) for v in query.box.lo], [float(v) for v in query.box.hi]
    out["spec"] = dict(payload.get("spec") or {}, form=query.form,
                       parts=[p.description for p in query.parts])
    out["load_s"] = time.perf_counter() - t0
    m = payload.get("method", "auto")
    res = solve_query(query, models, time_limit=payload.get("timeout"), method=m, seed=payload.get("seed", 0))
    out["time_s"] = res.time_s
    out["reason"] = res.reason
    methods = sorted({str(r.method) for r in res.results if getattr(r, "method", None)})
    out["method"] = ",".join(methods) if methods else ("search" if res.status == "sat" else m)
    sound = sorted({str(r.soundness) for r in res.results if getattr(r, "soundness", None)})
    out["soundness"] = ",".join(sound) if sound else None
    if len(res.results) == 1:
        d = res.results[0].to_dict()
        out["lower"], out["upper"] = d.get("lower"), d.get("upper")
    out["stats"] = {"query_status": res.status, "form": res.form, "parts": len(res.results),
                    "warnings": list(res.warnings)}
    notes = list(res.warnings)
    if res.status == "sat" and res.verdict == "NOT_EQUIVALENT":
        out.update(verdict="NOT_EQUIVALENT", stop_reason="refuted",
                   counterexample=_query_counterexample(res))
    elif res.status == "sat":  # the asserted safe band has a witness: says nothing about equivalence
        out.update(verdict="UNKNOWN", stop_reason="unsupported")
        notes.append(f"the query looks inverted: its asserted band holds at x = "
                     f"[{', '.join(repr(float(v)) for v in res.x)}]")
    elif res.status == "unsat":
        out.update(verdict="EQUIVALENT", stop_reason="proved")
    else:
        out.update(verdict="UNKNOWN", stop_reason="time_limit" if res.status == "timeout" else "unknown")
    out["note"] = "; ".join(notes) or None


def _claim_checker():
    """``relucert.transforms.check`` (new, claim, box=, method=, time_limit=) when it exists."""
    try:
        from .. import transforms as T
    except ImportError as exc:
        if exc.name != "relucert.transforms":
            raise
        return None
    return getattr(T, "check", None)


def _fault(kind: str) -> None:
    """Testing hook (manifest field ``fault``, allowed only with RELUCERT_ZOO_TEST_FAULTS=1)."""
    if kind == "crash":
        sys.stdout.flush()
        os.abort()  # like a segfault in a native solver: the process dies on a signal
    if kind == "hang":
        while True:  # ignores every time limit, like a solver stuck in native code
            time.sleep(3600)
    if kind == "oom":
        import numpy as np

        hog = []
        while True:  # allocate (and touch) 64 MiB blocks until the memory limit stops us
            hog.append(np.ones(2**23))
    if kind == "raise":
        raise RuntimeError("fault injected by the manifest (fault = 'raise')")


def _certificate(payload: dict, f, g, box, spec, result, t0: float) -> tuple[str | None, str | None]:
    """Write a certificate through :mod:`relucert.certify` when it exists: ``(path, note)``.

    NOT_EQUIVALENT: the witness certificate of the verified counterexample.  EQUIVALENT: the
    certified search of ``relucert.certify.certify`` within what is left of the time limit (a
    proof found by MILP or z3 alone is no certificate).  UNKNOWN: none.  A failure here is a
    note, never a change of the verdict."""
    if not payload.get("certificate"):
        return None, None
    try:
        from .. import certify as C
    except ImportError as exc:
        if exc.name != "relucert.certify":
            raise
        return None, "certificate not available: relucert.certify is not part of this relucert version"
    from ..verify.result import Verdict

    if result.verdict is Verdict.UNKNOWN:
        return None, "no certificate: the verdict is UNKNOWN"
    out_dir = payload.get("certificate_dir") or os.getcwd()
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in payload["name"])
    path = os.path.join(out_dir, f"{safe}.cert.json")
    plain = payload["kind"] == "pair" and not payload.get("fold_normalization") and not payload.get("drop_softmax")
    f_arg = payload["f"] if plain else f
    g_arg = payload["g"] if plain else g
    try:
        os.makedirs(out_dir, exist_ok=True)
        if result.verdict is Verdict.NOT_EQUIVALENT:
            doc = C.certificate_from_result(result, f, g, f_file=payload["f"] if plain else None,
                                            g_file=payload["g"] if plain else None)
            C.CertifyResult(result.verdict, doc, "", {}, f, g).write(path, save_models=not plain)
            return path, None
        left = max(1.0, float(payload.get("timeout") or 60.0) - (time.perf_counter() - t0))
        cr = C.certify(f_arg, g_arg, box, spec, time_limit=left, seed=payload.get("seed", 0), fallback_verify=False)
        if cr.certificate is None or cr.verdict is not Verdict.EQUIVALENT:
            return None, f"no certificate: the certified search gave {cr.verdict} ({cr.reason})"
        cr.write(path, save_models=not plain)
        return path, None
    except Exception as exc:  # noqa: BLE001 - a failed certificate never hides the verdict
        return None, f"certificate not written: {type(exc).__name__}: {exc}"


def execute_job(payload: dict, *, limit_memory: bool = True) -> dict:
    """Run one job and return its outcome as a JSON-able dict (never raises for a job's fault).

    Keys: ``name``, ``verdict`` (EQUIVALENT, NOT_EQUIVALENT, UNKNOWN or ERROR), ``lower``,
    ``upper``, ``stop_reason``, ``reason``, ``method``, ``soundness``, ``time_s`` (verify),
    ``load_s``, ``counterexample``, ``f_digest``, ``g_digest``, ``claim``, ``certificate``,
    ``note``, ``stats``; a ``kind="query"`` job is decided by :func:`_execute_query`; ``restart`` is True when the worker should be replaced (out of memory).
    """
    t0 = time.perf_counter()
    out: dict = {"name": payload.get("name"), "verdict": "ERROR", "lower": None, "upper": None,
                 "stop_reason": "exception", "reason": "", "method": payload.get("method"),
                 "soundness": None, "time_s": None, "load_s": None, "counterexample": None,
                 "f_digest": None, "g_digest": None, "spec": None, "box_lo": None, "box_hi": None, "claim": None, "certificate": None, "note": None,
                 "stats": {}, "restart": False}
    prev = _set_memory_limit(payload.get("memory_limit")) if limit_memory else None
    try:
        from ..verify.api import verify

        if payload.get("fault"):
            _fault(payload["fault"])
        if payload.get("kind") == "query":
            _execute_query(payload, out, t0)
            out["wall_s"] = time.perf_counter() - t0
            return out  # the finally clause below restores the memory limit
        f = _load(payload["f"], payload)
        out["f_digest"] = f.digest
        box = resolve_box(payload, f.n_inputs, f.n_outputs)
        claim = None
        out["box_lo"], out["box_hi"] = [float(v) for v in box.lo], [float(v) for v in box.hi]
        if payload["kind"] == "transform":
            t = lookup_transform(payload["transform"])
            g, claim = _apply_transform(t, f, box, payload.get("transform_options") or {})
            out["claim"] = _claim_dict(claim)
        else:
            g = _load(payload["g"], payload)
        out["g_digest"] = g.digest
        ref = f
        for side, want, got in (("f", payload.get("f_digest"), f.digest),
                                ("g", payload.get("g_digest"), g.digest if payload["kind"] == "pair" else None)):
            if want and got and want != got:
                raise RuntimeError(f"model {side} changed on disk since the run started "
                                   f"(digest {got[:12]}, expected {want[:12]})")
        if payload["spec"].get("kind") == "claim":
            if claim is None or not hasattr(claim, "spec"):
                from ..errors import SpecError

                raise SpecError(f"transform {payload['transform']!r} returned no claim with a spec; "
                                f"give the spec in the manifest (eps = ...)")
            spec = claim.spec()
            ref = getattr(claim, "reference", None) or f  # the claim compares g with its reference
            out["spec"] = spec.to_dict()
        else:
            spec = build_spec(payload["spec"])
        out["load_s"] = time.perf_counter() - t0
        checker = _claim_checker() if payload["spec"].get("kind") == "claim" else None
        if checker is not None and hasattr(claim, "reference"):
            # the transform's own checker: exact region comparison in low dimension, else verify
            m = payload.get("method", "auto")
            res = checker(g, claim, box=box, method=m if m in ("auto", "bab", "milp", "smt") else "auto",
                          time_limit=payload.get("timeout"))
            spec = getattr(res, "spec", None) or spec
            out["spec"] = spec.to_dict() if hasattr(spec, "to_dict") else out["spec"]
        else:
            res = verify(ref, g, box, spec, method=payload.get("method", "auto"), time_limit=payload.get("timeout"),
                         node_limit=payload.get("node_limit"), seed=payload.get("seed", 0))
        d = res.to_dict()
        out.update({k: d.get(k) for k in ("verdict", "lower", "upper", "stop_reason", "reason", "method",
                                          "soundness", "counterexample", "stats")})
        out["time_s"] = res.time_s
        cert, note = _certificate(payload, ref, g, box, spec, res, t0)
        out["certificate"], out["note"] = cert, note
    except MemoryError:
        _restore_memory_limit(prev)
        prev = None
        lim = payload.get("memory_limit")
        out.update(verdict="ERROR", stop_reason="out_of_memory", restart=True,
                   reason=f"out of memory (memory limit {_fmt_bytes(lim) if lim else 'none'})")
    except Exception as exc:  # noqa: BLE001 - a job's failure is its result
        from ..errors import RelucertError

        if isinstance(exc, RelucertError):  # about the job's input: say where the job is defined
            msg = (f"{payload['where']}: " if payload.get("where") else "") + str(exc)
        else:
            msg = f"{type(exc).__name__}: {exc}"
        tb = traceback.extract_tb(exc.__traceback__)
        if tb and not isinstance(exc, RelucertError):
            last = tb[-1]
            msg += f" (at {os.path.basename(last.filename)}:{last.lineno})"
        out.update(verdict="ERROR", stop_reason="exception", reason=msg.splitlines()[0] if msg else type(exc).__name__)
    finally:
        _restore_memory_limit(prev)
    out["wall_s"] = time.perf_counter() - t0
    return out


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def _die_with_parent(parent: int, *, pdeathsig: bool) -> None:
    """Exit when the runner dies: ``PR_SET_PDEATHSIG`` (Linux; only when the runner's main thread
    started us, since the signal follows the starting *thread*) and a watchdog on ``getppid``."""
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - best effort
            pass
    if os.getppid() != parent:
        os._exit(70)

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="relucert-zoo-watchdog", daemon=True).start()


def _json_default(v):
    """numpy scalars and arrays, Fractions and anything else a stats dict may hold."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if hasattr(v, "numerator") and hasattr(v, "denominator"):
        return f"{v.numerator}/{v.denominator}" if v.denominator != 1 else str(v.numerator)
    return str(v)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        fd = int(argv[argv.index("--result-fd") + 1])
        parent = int(argv[argv.index("--parent") + 1]) if "--parent" in argv else None
    except (ValueError, IndexError):
        print("usage: python -m relucert.zoo.worker --result-fd FD [--parent PID [--pdeathsig]]", file=sys.stderr)
        return 2
    if parent is not None:
        _die_with_parent(parent, pdeathsig="--pdeathsig" in argv)
    out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
    import relucert  # noqa: F401  (warm up: imports are not counted in the first job)
    from .. import io as _io  # noqa: F401
    from ..verify import api as _api  # noqa: F401

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        payload = json.loads(line)
        result = execute_job(payload)
        out.write(json.dumps(result, default=_json_default) + "\n")
        out.flush()
        if result.get("restart"):
            return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
