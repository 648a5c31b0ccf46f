"""`evoflow eval`: elite and distilled rollouts reproduce what the run recorded, a new file per
call, and every bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from evoflow import evaluate
from evoflow.algorithms.map_elites import evaluate as qd_eval
from evoflow.nets import Layout
from tests.conftest import evoflow, only_run

STAMPED = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}\.json")


@pytest.fixture(scope="module")
def qd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qd")
    evoflow("run", "me", "--env", "point_omni", "--preset", "tiny", "--set",
            "resets=deterministic", "--out", out, "--quiet")
    return only_run(out)


@pytest.fixture(scope="module")
def dcg_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dcg")
    evoflow("run", "dcg_me", "--env", "point_omni", "--preset", "tiny", "--set",
            "resets=deterministic", "--out", out, "--quiet")
    return only_run(out)


@pytest.fixture(scope="module")
def cbo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cbo")
    evoflow("run", "cbo", "--env", "sphere", "--preset", "tiny", "--set", "iterations=40",
            "--out", out, "--quiet")
    return only_run(out)


def _archive(run):
    with np.load(run / "archive.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("hidden", [(16, 16), (5,), ()])
def test_flat_genotypes_inverts_mlp_leaves(hidden):
    mlp = Layout((3, *hidden, 2))
    flat = np.random.default_rng(0).normal(size=(7, mlp.n_params)).astype(np.float32)
    arrays = {f"params/{k}": v for k, v in mlp.leaves(flat).items()}
    np.testing.assert_array_equal(qd_eval.flat_genotypes(arrays), flat)
    np.testing.assert_array_equal(qd_eval.flat_genotypes({"params/genotype": flat}), flat)


def test_write_new_never_replaces(tmp_path):
    paths = {evaluate.write_new(tmp_path / "evals", "20260101-000000", {"i": i}) for i in range(5)}
    assert len(paths) == 5 and {p.name for p in (tmp_path / "evals").iterdir()} == \
        {p.name for p in paths}
    assert sorted(json.loads(p.read_text())["i"] for p in paths) == list(range(5))


def test_eval_cell_reproduces_the_archive_and_never_overwrites(qd_run):
    a = _archive(qd_run)
    filled = np.flatnonzero(np.isfinite(a["fitness"]))
    best, other = int(np.argmax(a["fitness"])), int(filled[0])
    first = evoflow("eval", qd_run, "--policy", f"cell:{best}").stdout.strip().splitlines()[-1]
    second = evoflow("eval", qd_run, "--policy", f"cell:{other}",
                     "--episodes", "3").stdout.strip().splitlines()[-1]
    files = sorted((qd_run / "evals").iterdir())
    assert [str(p) for p in files] == sorted([first, second]) and first != second
    assert all(STAMPED.fullmatch(p.name) for p in files)
    for path, cell, k in ((first, best, 1), (second, other, 3)):
        rec = json.loads(open(path).read())
        assert list(rec)[:4] == ["policy", "target", "descriptor", "fitness"]
        assert rec["policy"] == f"cell:{cell}" and rec["target"] is None
        assert rec["distance"] is None and rec["episodes"] == k
        assert rec["run"] == qd_run.name and rec["eval_seed"] == evaluate.EVAL_SEED
        assert rec["created"][:4].isdigit()
        np.testing.assert_allclose(rec["descriptor"], a["descriptor"][cell], rtol=0, atol=1e-5)
        np.testing.assert_allclose(rec["fitness"], a["fitness"][cell], rtol=1e-5, atol=1e-5)
        assert np.shape(rec["descriptors"]) == (k, 2) and len(rec["fitnesses"]) == k
        np.testing.assert_allclose(rec["fitnesses"], a["fitness"][cell], rtol=1e-5, atol=1e-5)
    before = open(first).read()
    third = evoflow("eval", qd_run, "--policy", f"cell:{best}").stdout.strip().splitlines()[-1]
    assert third not in (first, second) and open(first).read() == before
    assert len(list((qd_run / "evals").iterdir())) == 3


def test_eval_distilled_reproduces_the_runs_distilled_eval(dcg_run):
    """The DC actor fixed at a cell's centroid achieves what the run recorded for that cell."""
    with np.load(dcg_run / "distilled_eval.npz", allow_pickle=False) as z:
        cells, fit, desc = z["cell"], z["fitness"], z["descriptor"]
    i = len(cells) // 2
    target = _archive(dcg_run)["centroid"][cells[i]]
    text = ",".join(repr(float(v)) for v in target)
    path = evoflow("eval", dcg_run, "--policy", "distilled",
                   "--target", text).stdout.strip().splitlines()[-1]
    rec = json.loads(open(path).read())
    assert rec["policy"] == "distilled" and rec["cell"] is None and rec["episodes"] == 1
    np.testing.assert_allclose(rec["target"], target, rtol=0, atol=1e-7)
    np.testing.assert_allclose(rec["descriptor"], desc[i], rtol=0, atol=1e-5)
    np.testing.assert_allclose(rec["fitness"], fit[i], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rec["distance"], np.linalg.norm(desc[i] - target), atol=1e-5)
    assert rec["distances"] == [rec["distance"]]


def test_episode_keys_fold_in_the_episode_index(qd_run):
    """With stochastic resets, episode e resets the same whatever K (equal up to float rounding,
    which depends on the batch size), and different episodes reset differently."""
    filled = np.flatnonzero(np.isfinite(_archive(qd_run)["fitness"]))
    bodies = []
    for k in (1, 3):
        plan = evaluate.plan(qd_run, {"--policy": f"cell:{filled[0]}", "--episodes": k})
        plan.record["config"]["resets"] = "stochastic"
        bodies.append(plan.evaluator.rollout(plan))
    one, three = bodies
    np.testing.assert_allclose(one["descriptors"][0], three["descriptors"][0], rtol=0, atol=1e-6)
    d = three["descriptors"]
    assert min(np.abs(d[i] - d[j]).max() for i, j in ((0, 1), (0, 2), (1, 2))) > 1e-4


def test_reproducibility_expectations_match_the_documented_rollouts(dcg_run):
    """--reproducibility K: each elite and the distilled policy at its cell's centroid, episode e
    of cell c reset from fold_in(fold_in(key(EVAL_SEED), e), c), stochastic resets."""
    import jax
    import jax.numpy as jnp

    k = 3
    path = evoflow("eval", dcg_run, "--reproducibility", k).stdout.strip().splitlines()[-1]
    rec = json.loads(open(path).read())
    arch = _archive(dcg_run)
    filled = np.flatnonzero(np.isfinite(arch["fitness"]))
    assert rec["policy"] == "reproducibility" and rec["episodes"] == k
    assert rec["elites"]["cells"] == filled.tolist() and rec["distilled"] is not None

    plan = evaluate.plan(dcg_run, {"--reproducibility": k})
    prep, dtype, run_data = evaluate.rebuild(plan, resets="stochastic")
    assert prep.task.cfg["resets"] == "stochastic"
    genotypes = {"elites": plan.args["genotypes"],
                 "distilled": qd_eval._distilled(plan, prep, plan.args["actor"],
                                                  arch["centroid"][filled], dtype)}
    for name, gs in genotypes.items():
        fit, dist = np.zeros((len(filled), k)), np.zeros((len(filled), k))
        for i, c in enumerate(filled):
            for e in range(k):
                key = jax.random.fold_in(jax.random.fold_in(jax.random.key(evaluate.EVAL_SEED),
                                                            e), int(c))
                ev = prep.task.evaluate(run_data, jnp.asarray(gs[i], dtype)[None], key)
                fit[i, e] = float(ev.fitness[0])
                dist[i, e] = np.linalg.norm(np.asarray(ev.descriptor[0]) - arch["centroid"][c])
        got = rec[name]
        np.testing.assert_allclose(got["fitness"], fit.mean(axis=1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["distance"], dist.mean(axis=1), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["expected_qd_score"], fit.mean(axis=1).sum(), rtol=1e-5)
        np.testing.assert_allclose(got["expected_max_fitness"], fit.mean(axis=1).max(),
                                   rtol=1e-5)
        np.testing.assert_allclose(got["expected_distance"], dist.mean(), rtol=1e-4)
    assert rec["expected_qd_score"] == rec["elites"]["expected_qd_score"]
    # Stochastic resets: the K episodes of a policy differ.
    assert np.ptp(fit, axis=1).max() > 0


BAD = [
    (["{tmp}", "--policy", "cell:0"], "not an evoflow run directory"),
    (["{qd}", "--policy", "cell:64"], "out of range; this archive has cells 0..63"),
    (["{qd}", "--policy", "cell:-1"], "out of range; this archive has cells 0..63"),
    (["{qd}", "--policy", "cell:{empty}"], "the cell is empty"),
    (["{qd}", "--policy", "cell:x"], "expected cell:N (the elite of archive cell N) or distilled"),
    (["{qd}", "--policy", "best"], "expected cell:N"),
    (["{qd}"], "--policy is required"),
    (["{qd}", "--policy", "cell:0", "--episodes", "0"], "--episodes 0: must be in 1..1,000,000"),
    (["{qd}", "--policy", "cell:0", "--episodes", "1000000000000"],
     "--episodes 1000000000000: must be in 1..1,000,000"),
    (["{qd}", "--policy", "cell:0", "--episodes", "many"], "--episodes 'many': expected an integer"),
    (["{qd}", "--policy"], "--policy: needs a value"),
    (["{qd}", "--seed", "3"], "--seed: not an eval option of map_elites runs; they take --policy"),
    (["{qd}", "--policy", "distilled"], "--policy distilled needs --target X,Y"),
    (["{qd}", "--policy", "cell:0", "--target", "0,0"], "only with --policy distilled"),
    (["{qd}", "--policy", "distilled", "--target", "0,0,0"], "3 values, but the descriptor has 2"),
    (["{qd}", "--policy", "distilled", "--target", "0.5,1.5"], "y=1.5 is outside the descriptor "
                                                               "box [-1, 1]"),
    (["{qd}", "--policy", "distilled", "--target", "a,b"], "expected 2 comma-separated numbers"),
    (["{qd}", "--policy", "distilled", "--target", "0.5,-0.5"], "this run has no distilled "
                                                                "policy"),
    (["{qd}", "--reproducibility", "0"], "--reproducibility 0: must be in 1..1,000,000"),
    (["{qd}", "--reproducibility", "2", "--policy", "cell:0"], "drop --policy"),
    (["{cbo}", "--policy", "cell:0"], "--policy: not an eval option of cbo runs; they take "
                                      "none"),
    (["{cbo}"], "nothing to evaluate for cbo runs (family cbo has no evaluator)"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a)[:50] for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(request, tmp_path, args, message):
    subs = {"{tmp}": str(tmp_path)}
    if "{qd}" in args:
        qd = request.getfixturevalue("qd_run")
        empty = np.flatnonzero(~np.isfinite(_archive(qd)["fitness"]))
        assert len(empty), "the tiny run filled every cell"
        subs.update({"{qd}": str(qd), "{empty}": str(empty[0])})
    if "{cbo}" in args:
        subs["{cbo}"] = str(request.getfixturevalue("cbo_run"))
    args = [subs.get(a, a).replace("{empty}", subs.get("{empty}", "")) for a in args]
    watched = [tmp_path] + [subs[k] for k in ("{qd}", "{cbo}") if k in subs]

    def files():
        return sorted(str(p) for d in watched for p in Path(d).rglob("*"))

    before = files()
    proc = evoflow("eval", *args, check=False)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and proc.stdout == ""
    assert files() == before  # nothing written
