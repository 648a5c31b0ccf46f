"""GA-NS (issue 20 item 6): novelty against a brute-force NumPy reference, the archive ring, the
run files and bad input."""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp
import pytest

from evoflow.algorithms.ga import ns
from evoflow.errors import UsageError
from evoflow.experiment import prepare
from tests.conftest import evoflow, metrics, only_run, summary


def _novelty_numpy(bc, archive, k):
    out = []
    for i, b in enumerate(bc):
        others = np.concatenate([np.delete(bc, i, axis=0), archive])
        d2 = np.sort(np.sum((others - b) ** 2, axis=1))
        out.append(d2[:k].mean())
    return np.array(out)


@pytest.mark.parametrize("n", [50, 2500])  # 2500 > ns.ROW_CHUNK: the chunked path
def test_novelty_is_the_mean_squared_distance_to_the_k_nearest(n):
    rng = np.random.default_rng(0)
    bc = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    archive = rng.uniform(-1, 1, (30, 2)).astype(np.float32)
    valid = np.arange(30) < 20  # only the first 20 archive entries are filled
    got = ns.novelty(jnp.asarray(bc), jnp.asarray(archive), jnp.asarray(valid), 10)
    np.testing.assert_allclose(np.asarray(got), _novelty_numpy(bc, archive[:20], 10),
                               rtol=1e-4, atol=1e-7)


def test_unit_ranks_run_from_0_to_1_with_ties_by_index():
    got = ns.unit_rank(jnp.array([3.0, 1.0, 3.0, jnp.nan, 2.0]))
    np.testing.assert_allclose(got, [0.75, 0.25, 1.0, 0.0, 0.5])


def test_a_ga_ns_run_writes_its_archive_oldest_first(tmp_path):
    evoflow("run", "ga_ns", "--env", "deceptive_maze", "--preset", "tiny", "--seed", "0",
            "--set", "archive_prob=0.05", "--set", "archive_size=40", "--out", tmp_path,
            "--quiet")
    run = only_run(tmp_path)
    with np.load(run / "novelty_archive.npz") as z:
        assert z["behaviour"].shape == (40, 2) and z["fitness"].shape == (40,)
        gen = z["generation"]
    assert list(gen) == sorted(gen) and gen[0] > 0  # the ring wrapped: the oldest were overwritten
    m = metrics(run)
    assert m[-1]["archive/size"] == 40 and m[-1]["novelty/max"] > 0
    s = summary(run)
    assert s["elite/return"] >= s["gen0/max_return"] and "goal_reached" in s
    _check_the_archive_view(run)


def _check_the_archive_view(run):
    """The family's viz view draws every archived behaviour, offline and without errors."""
    pytest.importorskip("plotly")
    from evoflow.viz.cli import main
    from tests.viz.browser import browser, open_page

    assert main([run]) == 0
    text = (run / "report.html").read_text()
    assert "Novelty archive (40 behaviours)" in text and 'id="ga-elite"' in text
    with browser() as b, open_page(b, run / "report.html") as p:
        drawn = p.page.evaluate("document.getElementById('novelty-archive').dataset.drawn")
        assert drawn == "40" and p.errors == [] and p.requests == []


@pytest.mark.parametrize("sets, needle", [
    ({"novelty_k": 64}, "novelty_k=64: must be < pop_size (64)"),
    ({"archive_prob": 1.5}, "archive_prob=1.5: must be in [0, 1]"),
    ({"novelty_weight": -0.1}, "novelty_weight=-0.1: must be in [0, 1]"),
])
def test_bad_novelty_settings_are_refused(sets, needle):
    with pytest.raises(UsageError) as e:
        prepare("ga_ns", "deceptive_maze", "tiny", 0, sets)
    assert needle in str(e.value), str(e.value)


def test_ga_ns_on_an_env_without_a_behaviour_is_refused():
    with pytest.raises(UsageError, match="has no descriptor, which ga_ns needs"):
        prepare("ga_ns", "hopper", "tiny", 0, {})
