"""The ``table`` benchmark suite covers the seed reference's section-5 table row by row, and its
quick cases reach the table's verdicts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import runner

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "seed-constructions.md"


def table_ids() -> list[str]:
    text = REFERENCE.read_text(encoding="utf-8")
    start = text.index("## 5.")
    end = text.index("\n## ", start + 1)
    ids = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or not cells or cells[0] in ("ID", "") or set(cells[0]) <= set("-"):
            continue
        ids.append(cells[0])
    return ids


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference not present")
def test_every_row_is_a_case_or_listed_as_not_run():
    from benchmarks.suites import table

    ids = table_ids()
    assert len(ids) == len(set(ids)) >= 40 and "B-abs1d" in ids and "D-replicate-neg" in ids
    assert all(re.fullmatch(r"[A-D]-\S+", i) for i in ids), ids
    runner.load_suites()
    cases = runner.SUITES["table"].build(False, {})
    case_ids = [table.row_id(c.name) for c in cases]
    assert len(case_ids) == len(set(case_ids)), "one case per row"
    assert set(case_ids) <= set(ids), set(case_ids) - set(ids)
    assert set(table.NOT_RUN) <= set(ids) and not set(table.NOT_RUN) & set(case_ids)
    assert set(case_ids) | set(table.NOT_RUN) == set(ids), set(ids) - set(case_ids) - set(table.NOT_RUN)
    for c in cases:   # the table's verdict words map to the runner's
        assert c.expected in (("EQUIVALENT",), ("NOT_EQUIVALENT",), ("HOLDS",)), c.name
    quick = {table.row_id(c.name) for c in runner.SUITES["table"].build(True, {})}
    assert quick and quick < set(case_ids)


def test_quick_table_cases_as_expected():
    runner.load_suites()
    lines = []
    out = runner.run(["table"], quick=True, write=False, out=lines.append)
    assert out["cases"] >= 20 and out["unexpected"] == 0, lines
