"""DCG-ME issue acceptance 4-5 on point_omni (`pytest -m slow`): 15 default runs."""

from __future__ import annotations

import statistics

import pytest

from tests.conftest import evoflow, only_run, summary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]  # 15 runs, ~1 h on 2 cores


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = {}
    for algo in ("me", "pga_me", "dcg_me"):
        for seed in range(5):
            d = tmp_path_factory.mktemp(f"{algo}-{seed}")
            evoflow("run", algo, "--env", "point_omni", "--seed", seed, "--out", d, "--quiet",
                    timeout=1800)
            out.setdefault(algo, []).append(summary(only_run(d)))
    return out


def test_qd_score_ordering(results):
    med = {a: statistics.median(s["qd_score"] for s in runs) for a, runs in results.items()}
    assert med["dcg_me"] >= med["pga_me"] >= 0.95 * med["me"], med


def test_distilled_policy_reaches_its_targets(results):
    runs = results["dcg_me"]
    target = statistics.median(s["distill/target_dist"] for s in runs)
    random = statistics.median(s["distill/random_dist"] for s in runs)
    elite = statistics.median(s["distill/elite_dist"] for s in runs)
    assert target <= 0.5 * random and target <= 1.5 * elite, (target, random, elite)
