"""The VNN-COMP tool interface: decide a VNN-LIB query (2.0 equivalence queries, or 1.0
properties of one product network), write the competition's result file, read a 2026-style
``instances.csv`` whose first column names the networks, and run a whole benchmark folder.

>>> from relucert.vnncomp import solve_query, run_instance          # doctest: +SKIP
>>> out = solve_query(read_query("q.vnnlib"), {"f": f, "g": g}, time_limit=60)   # doctest: +SKIP
>>> out.status                                                       # doctest: +SKIP
'unsat'

Command line (the competition's ``run_instance.sh`` can call it with its own arguments)::

    relucert vnncomp run-instance v1 CATEGORY 'f=a.onnx;g=b.onnx' query.vnnlib out.result 60
    relucert vnncomp run-instance --network f=a.onnx --network g=b.onnx --query q.vnnlib --result out.result
    relucert vnncomp run-benchmark benchmarks/equiv/instances.csv --out results/
    relucert vnncomp inspect query.vnnlib        # what relucert will decide, and warnings
    relucert verify --query q.vnnlib --network f=a.onnx --network g=b.onnx --timeout 60
    relucert export-query A.onnx B.onnx --box=-1:1 --eps 0.05 --out DIR --form all

Statuses: ``sat`` (a counterexample exists; it is re-checked exactly on the query itself),
``unsat`` (proved with relucert's sound engines), ``timeout``, ``unknown``, ``error``.
"""

from .instances import Instance, read_instances
from .result import format_result, parse_result, write_result
from .run import run_benchmark, run_instance
from .solve import QueryOutcome, solve_query

__all__ = [
    "QueryOutcome",
    "solve_query",
    "format_result",
    "parse_result",
    "write_result",
    "Instance",
    "read_instances",
    "run_instance",
    "run_benchmark",
]
