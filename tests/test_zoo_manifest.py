"""Zoo manifests: TOML jobs, defaults, glob pairing rules, boxes, specs, instances.csv, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import relucert
from relucert import ManifestError, Network
from relucert.zoo import load_manifest, read_instances_csv

ACAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "acas-neurodiff"


def _nets(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    f = Network.random([3, 6, 2], seed=1)
    for name, net in {"a": f, "a_pruned5": f, "a-mirror": f, "b": Network.random([3, 6, 2], seed=2),
                      "b_pruned5": f}.items():
        relucert.save(net, d / f"{name}.npz")


def _write(d: Path, text: str, name: str = "zoo.toml") -> Path:
    p = d / name
    p.write_text(textwrap.dedent(text))
    return p


def test_smallest_manifest_defaults_and_relative_paths(tmp_path):
    _nets(tmp_path / "nets")
    p = _write(tmp_path, """
        [defaults]
        eps = 0.05
        timeout = 60
        [[job]]
        name = "j1"
        f = "nets/a.npz"
        g = "nets/a_pruned5.npz"
        box = "-0.3:0.68,-0.5:0.5,0:0"
        """)
    m = load_manifest(p)
    assert len(m) == 1
    j = m.jobs[0]
    assert j.name == "j1" and j.kind == "pair"
    assert Path(j.f) == tmp_path / "nets" / "a.npz"
    assert Path(j.g) == tmp_path / "nets" / "a_pruned5.npz"
    assert j.spec == {"kind": "eps", "eps": 0.05, "outputs": None, "excluded": None}
    assert j.timeout == 60.0 and j.box_text.startswith("-0.3")
    assert j.where.endswith("zoo.toml:5")  # the [[job]] line


def test_job_overrides_defaults_and_specs(tmp_path):
    _nets(tmp_path)
    p = _write(tmp_path, """
        [defaults]
        eps = 0.1
        box = "-1:1"
        memory_limit = "512MiB"
        [[job]]
        name = "top"
        f = "a.npz"
        g = "b.npz"
        spec = "top1"
        margin = 0.25
        [[job]]
        name = "dec"
        f = "a.npz"
        g = "b.npz"
        spec = "decision"
        tau_f = 0.5
        gamma = 0.1
        box = {lo = [0, 0, 0], hi = [1, 1, 0.5]}
        [[job]]
        name = "eps"
        f = "a.npz"
        g = "b.npz"
        eps = 0.01
        outputs = [1]
        method = "milp"
        node_limit = 50
        """)
    jobs = {j.name: j for j in load_manifest(p).jobs}
    assert jobs["top"].spec == {"kind": "top1", "margin": 0.25, "tie_break": "lowest_index"}
    assert jobs["dec"].spec == {"kind": "decision", "tau_f": 0.5, "tau_g": 0.0, "gamma": 0.1}
    assert jobs["dec"].box_lo == [0.0, 0.0, 0.0] and jobs["dec"].box_hi == [1.0, 1.0, 0.5]
    assert jobs["eps"].spec["eps"] == 0.01 and jobs["eps"].spec["outputs"] == [1]
    assert jobs["eps"].method == "milp" and jobs["eps"].node_limit == 50
    assert all(j.memory_limit == 512 * 2**20 for j in jobs.values())


@pytest.mark.parametrize("rule, expected", [
    ("{stem}_pruned5{suffix}", {"a": "a_pruned5.npz", "b": "b_pruned5.npz"}),
    ("{stem}-mirror{suffix}", {"a": "a-mirror.npz"}),
])
def test_glob_pairing_rules(tmp_path, rule, expected):
    _nets(tmp_path)
    p = _write(tmp_path, f"""
        [[job]]
        f = "*.npz"
        g = "{rule}"
        missing = "skip"
        eps = 0.05
        box = "-1:1"
        """)
    jobs = load_manifest(p).jobs
    # partners are never taken as f; files without a partner are skipped
    assert {j.name: Path(j.g).name for j in jobs} == expected


def test_glob_missing_partner_is_an_error_naming_the_file(tmp_path):
    _nets(tmp_path)
    p = _write(tmp_path, """
        [[job]]
        f = "*.npz"
        g = "{stem}-mirror{suffix}"
        eps = 0.05
        box = "-1:1"
        """)
    with pytest.raises(ManifestError, match=r"zoo.toml:4: job 1.*no partner for a_pruned5.npz: expected .*a_pruned5-mirror.npz"):
        load_manifest(p)


def test_glob_name_template_and_match_key(tmp_path):
    _nets(tmp_path)
    p = _write(tmp_path, """
        [[job]]
        name = "pair-{match}"
        f = "?.npz"
        g = "{stem}_pruned5{suffix}"
        eps = 0.05
        box = "-1:1"
        """)
    assert [j.name for j in load_manifest(p).jobs] == ["pair-a", "pair-b"]


@pytest.mark.parametrize("body, line, pattern", [
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = -0.1\nbox = "-1:1"', 6, r"eps must be a finite number >= 0, got eps=-0.1"),
    ('name = "x"\nf = "a.npz"\ng = "nope.npz"\neps = 0.1\nbox = "-1:1"', 5, r"g: model file not found: .*nope.npz"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "1:-1"', 7, r"box: box needs lo <= hi"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "-1:1"\ntimout = 3', 8, r"unknown field 'timout'.*did you mean 'timeout'"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "-1:1"\nmethod = "fast"', 8, r"method must be one of"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "-1:1"\nmemory_limit = "lots"', 8, r"memory_limit expected bytes"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "-1:1"\ntimeout = 0', 8, r"timeout must be > 0"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\nspec = "top1"\neps = 0.1\nbox = "-1:1"', 7, r"eps does not apply to spec='top1'"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1', 2, r"no input box"),
    ('name = "x"\nf = "a.npz"\neps = 0.1\nbox = "-1:1"', 2, r"needs g .* or transform"),
    ('name = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "-1:1"\nfault = "crash"', 8, r"fault is a testing option"),
])
def test_validation_errors_name_line_job_and_field(tmp_path, monkeypatch, body, line, pattern):
    monkeypatch.delenv("RELUCERT_ZOO_TEST_FAULTS", raising=False)
    _nets(tmp_path)
    p = tmp_path / "zoo.toml"
    p.write_text("# a comment\n[[job]]\n" + body + "\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:{line}: job 1 ('x'): "), msg
    assert __import__("re").search(pattern, msg), msg
    assert "\n" not in msg


def test_toml_syntax_error_names_line(tmp_path):
    p = _write(tmp_path, '[[job]]\nname = "x"\neps = = 1\n')
    with pytest.raises(ManifestError, match=r"zoo.toml:3: TOML syntax error"):
        load_manifest(p)


def test_duplicate_names_and_empty_manifest(tmp_path):
    _nets(tmp_path)
    job = '[[job]]\nname = "x"\nf = "a.npz"\ng = "b.npz"\neps = 0.1\nbox = "-1:1"\n'
    p = _write(tmp_path, job + job)
    with pytest.raises(ManifestError, match=r"zoo.toml:7: job name 'x' is used twice \(first at .*zoo.toml:1\)"):
        load_manifest(p)
    p = _write(tmp_path, "[defaults]\neps = 0.1\n")
    with pytest.raises(ManifestError, match="lists no job"):
        load_manifest(p)
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "missing.toml")


def test_vnnlib_box_and_transform_job(tmp_path):
    _nets(tmp_path)
    (tmp_path / "p.vnnlib").write_text(
        "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)\n"
        "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (>= X_1 0))\n"
        "(assert (<= X_2 0.5))\n(assert (>= X_2 -0.5))\n(assert (>= Y_0 3))\n")
    p = _write(tmp_path, """
        [defaults]
        eps = 0.05
        vnnlib = "p.vnnlib"
        [[job]]
        name = "t"
        f = "a.npz"
        transform = "deepen"
        transform_options = {extra = 2}
        """)
    (j,) = load_manifest(p).jobs
    assert j.kind == "transform" and j.transform == "deepen" and j.transform_options == {"extra": 2}
    assert Path(j.vnnlib) == tmp_path / "p.vnnlib" and j.g is None


def test_project_instances_csv_acas():
    if not (ACAS / "instances.csv").is_file():
        pytest.fail(f"shared ACAS data missing at {ACAS}")
    jobs = read_instances_csv(ACAS / "instances.csv", search=[ACAS / "nnet", ACAS / "compressed_nnets"],
                              options={"timeout": 5})
    assert len(jobs) == 286
    j = jobs[0]
    assert j.name == "acas-0.05-001"
    assert Path(j.f).name == "ACASXU_run2a_1_1_batch_2000.nnet"
    assert Path(j.g).name == "ACASXU_run2a_1_1_batch_2000_16bit.nnet"
    assert j.spec["eps"] == 0.05 and j.spec["outputs"] == [0]
    assert j.box_lo[0] == 0.6000000238418579 and j.box_hi[4] == -0.44999998807907104
    assert {x.spec["eps"] for x in jobs} == {0.05, 0.01}
    every = read_instances_csv(ACAS / "instances.csv", search=[ACAS / "nnet", ACAS / "compressed_nnets"],
                               target="all", select="acas-0.01-*", limit=3)
    assert [x.name for x in every] == ["acas-0.01-001", "acas-0.01-002", "acas-0.01-003"]
    assert all(x.spec["outputs"] is None for x in every)


def test_instances_table_in_toml(tmp_path):
    p = _write(tmp_path, f"""
        [defaults]
        timeout = 2
        [[instances]]
        csv = "{ACAS / 'instances.csv'}"
        search = ["{ACAS / 'nnet'}", "{ACAS / 'compressed_nnets'}"]
        select = ["acas-0.05-00*"]
        memory_limit = "2GiB"
        """)
    jobs = load_manifest(p).jobs
    assert [j.name for j in jobs] == [f"acas-0.05-00{i}" for i in range(1, 10)]
    assert all(j.timeout == 2 and j.memory_limit == 2 * 2**30 for j in jobs)


def test_instances_csv_errors_name_line_and_column(tmp_path):
    _nets(tmp_path)
    head = "id,property,target_output,net,net2,eps,box_lo_norm,box_hi_norm\n"
    (tmp_path / "i.csv").write_text(head + "x1,1,0,a.npz,b.npz,0.05,0;0;0,1;1;1\nx2,1,0,a.npz,zz.npz,0.05,0;0;0,1;1;1\n")
    with pytest.raises(ManifestError, match=r"i.csv:3: instance 'x2': column 'net2': model 'zz.npz' not found"):
        read_instances_csv(tmp_path / "i.csv")
    (tmp_path / "i.csv").write_text(head + "x1,1,zero,a.npz,b.npz,0.05,0;0;0,1;1;1\n")
    with pytest.raises(ManifestError, match=r"i.csv:2: instance 'x1': column 'target_output' must be an integer"):
        read_instances_csv(tmp_path / "i.csv")
    (tmp_path / "i.csv").write_text(head + "x1,1,0,a.npz,b.npz,-1,0;0;0,1;1;1\n")
    with pytest.raises(ManifestError, match=r"i.csv:2: instance 'x1': eps must be a finite number >= 0"):
        read_instances_csv(tmp_path / "i.csv")


def test_vnncomp_instances_csv(tmp_path):
    _nets(tmp_path)
    (tmp_path / "p.vnnlib").write_text(
        "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n"
        "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (>= X_1 0))\n"
        "(assert (<= X_2 1))\n(assert (>= X_2 0))\n")
    (tmp_path / "instances.csv").write_text("a.npz,p.vnnlib,30\nb.npz,p.vnnlib,45\n")
    with pytest.raises(ManifestError, match="needs g = 'TEMPLATE'"):
        read_instances_csv(tmp_path / "instances.csv", options={"eps": 0.1})
    jobs = read_instances_csv(tmp_path / "instances.csv", options={"eps": 0.1}, g_template="{stem}_pruned5{suffix}")
    assert [(j.name, Path(j.g).name, j.timeout) for j in jobs] == [
        ("a+p", "a_pruned5.npz", 30.0), ("b+p", "b_pruned5.npz", 45.0)]
    assert Path(jobs[0].vnnlib) == tmp_path / "p.vnnlib"


def test_example_acas_manifest_lists_the_whole_set():
    m = load_manifest(Path(__file__).resolve().parent / "data" / "zoo" / "acas.toml")
    assert len(m.jobs) == 286
    assert len({j.name for j in m.jobs}) == 286
    assert all(Path(j.f).is_file() and Path(j.g).is_file() for j in m.jobs)
    assert {tuple(j.spec["outputs"]) for j in m.jobs} == {(0,), (1,), (3,), (4,)}


def test_instances_csv_alone_is_a_manifest():
    """`relucert zoo run instances.csv`: the nets are found in the CSV's sub-folders."""
    m = load_manifest(ACAS / "instances.csv")
    assert len(m.jobs) == 286 and m.jobs[0].timeout == 60.0
    assert Path(m.jobs[0].f).parent.name == "nnet" and Path(m.jobs[0].g).parent.name == "compressed_nnets"
