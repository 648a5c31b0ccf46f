"""The `adamw_tune` baseline (issue 19 item 5) and `evoflow eval` (item 7): the AdamW trainer is
optax.adamw, a tiny adamw_tune search writes its setting, and eval trains the run's result on the
test split of digits_mlp and digits_cnn at seeds 1000-1004."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from evoflow.algorithms.optsearch import adamw, ir
from evoflow.algorithms.optsearch import executor as ex
from evoflow.algorithms.optsearch.proxy import proxy_for, split
from tests.conftest import evoflow, only_run, summary
from tests.optsearch.test_search import TINY, _data


def optax_adamw_loss(s: adamw.AdamWSetting, proxy, data, lr, seed):
    """The training loop written out with optax.adamw itself, the schedule as its rate."""
    model = proxy.model
    key = jax.random.key(seed)
    theta = model.init(jax.random.fold_in(key, 0)).astype(jnp.float32)
    tx = optax.adamw(lambda c: lr * ex.schedule(c, proxy.steps, proxy.warmup), b1=s.b1,
                     b2=s.b2, eps=s.eps, weight_decay=s.weight_decay)
    opt = tx.init(theta)
    x_tr, y_tr = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    grad = jax.grad(lambda th, xb, yb: ex.cross_entropy(model.apply(th, xb), yb))
    for t in range(proxy.steps):
        idx = jax.random.randint(jax.random.fold_in(jax.random.fold_in(key, 1), t),
                                 (proxy.batch,), 0, x_tr.shape[0])
        u, opt = tx.update(grad(theta, x_tr[idx], y_tr[idx]), opt, theta)
        theta = optax.apply_updates(theta, u)
    return float(ex.cross_entropy(model.apply(theta, jnp.asarray(data["x_eval"])),
                                  jnp.asarray(data["y_eval"])))


def test_the_adamw_trainer_is_optax_adamw():
    proxy = ex.Proxy(ex.MLP((64, 6, 10)), steps=15, batch=16)
    data = _data()
    run = ex.Executor(proxy, data)
    settings = [adamw.START, adamw.AdamWSetting(weight_decay=0.3, b1=0.8, b2=0.95, eps=1e-6)]
    lrs, seeds = [3e-3, 3e-2], [5, 6]
    for s in settings:
        loss, steps = run.train(s, lrs, seeds)
        assert (steps == proxy.steps).all()
        for i, lr in enumerate(lrs):
            np.testing.assert_allclose(loss[i, 1], optax_adamw_loss(s, proxy, data, lr, 6),
                                       rtol=2e-5, err_msg=str(s))
    assert run.compile_count == 1  # weight decay, betas and eps are traced


@pytest.mark.parametrize("obj,needle", [
    ({"format": "evoflow-adamw/1", "default_lr": "0.1"}, "default_lr"),
    ({"format": "evoflow-adamw/1", "b1": 1.0}, "b1"),
    ({"format": "evoflow-adamw/1", "weight_decay": -1.0}, "weight_decay"),
    ({"format": "evoflow-adamw/1", "momentum": 0.9}, "momentum"),
    ({"format": "evoflow-adamw/2"}, "format"),
])
def test_a_bad_adamw_setting_is_a_clean_error(obj, needle):
    with pytest.raises(ir.ProgramError, match=needle):
        adamw.parse(obj)


def test_mutation_rescales_lr_or_weight_decay_within_bounds():
    rng = np.random.default_rng(0)
    s = adamw.START
    for _ in range(200):
        c = adamw.mutate(s, rng)
        changed = [k for k in adamw.FIELDS if getattr(c, k) != getattr(s, k)]
        assert changed and set(changed) <= set(adamw.TUNED)
        for k, (lo, hi) in adamw.BOUNDS.items():
            assert lo <= getattr(c, k) <= hi
        assert adamw.parse(c.to_json()) == c
        s = c


def _test_split(env):
    d = split()
    return ex.Executor(proxy_for(env, "s"), {"x_train": d["x_train"], "y_train": d["y_train"],
                                             "x_eval": d["x_test"], "y_eval": d["y_test"]})


def test_adamw_tune_writes_its_setting_and_eval_tests_it(tmp_path):
    evoflow("run", *TINY, "--set", "mode=adamw_tune", "--out", tmp_path, "--quiet", timeout=300)
    run = only_run(tmp_path)
    s = summary(run)
    assert s["evaluations"] == 24 and s["best/program_hash"] is None
    setting = adamw.parse(json.loads((run / "artifacts" / "best_adamw.json").read_text()))
    assert not (run / "artifacts" / "best_program.json").exists()
    lines = [json.loads(x) for x in (run / "candidates.jsonl").read_text().splitlines()]
    assert {x["mutation"] for x in lines[1:]} == {"rescale_constant"}
    funnel = json.loads((run / "artifacts" / "funnel.json").read_text())
    base = funnel["programs"][-1]  # the baseline is adamw_nobc (Program 3), not a setting
    assert base["baseline"] and base["program_hash"] == ir.program_hash(ir.load("adamw_nobc"))
    win = next(r for r in funnel["programs"] if r["index"] == funnel["winner"])
    assert setting.default_lr == win["lr"] and s["funnel/val_loss"] == win["funnel_val_loss"]
    assert s["best/beats_baseline"] == (s["funnel/val_loss"] < s["funnel/baseline_val_loss"])

    proc = evoflow("export", run, "--format", "torch", "--out", tmp_path / "x.py", check=False)
    assert proc.returncode == 2 and "adamw_tune" in proc.stderr
    assert not (tmp_path / "x.py").exists()

    evoflow("viz", run)  # the program view shows the setting
    assert "optax.adamw(learning_rate=schedule * " in (run / "report.html").read_text()

    out = evoflow("eval", run, timeout=300).stdout.strip().splitlines()[-1]
    rec = json.loads(open(out).read())
    assert rec["genome"] == "artifacts/best_adamw.json" and rec["seeds"] == list(range(1000, 1005))
    assert rec["digits_mlp"]["size"] == "s" == json.loads(
        (run / "config.json").read_text())["config"]["funnel_size"]
    cfg = json.loads((run / "config.json").read_text())["config"]
    before = jax.config.jax_threefry_partitionable  # the run's PRNG setting draws the batches
    jax.config.update("jax_threefry_partitionable", cfg["threefry_partitionable"])
    try:
        want = {env: _test_split(env).train(setting, [setting.default_lr],
                                            np.arange(1000, 1005))[0][0]
                for env in ("digits_mlp", "digits_cnn")}
    finally:
        jax.config.update("jax_threefry_partitionable", before)
    for env in ("digits_mlp", "digits_cnn"):  # the test split, trained at the setting's lr
        assert rec[env]["test_loss"] == want[env].tolist(), env
        assert rec[env]["mean"] == pytest.approx(float(np.mean(want[env])))
        assert rec[env]["lr"] == setting.default_lr
        assert rec[env]["mean"] < np.log(10)  # it learned: below chance


def test_eval_refuses_an_unfinished_run(tmp_path):
    evoflow("run", *TINY, "--set", "evaluations=8", "--set", "funnel=0", "--out", tmp_path,
            "--quiet", timeout=300)
    run = only_run(tmp_path)
    (run / "summary.json").unlink()
    proc = evoflow("eval", run, check=False)
    assert proc.returncode == 2 and "not finished" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (run / "evals").exists()
