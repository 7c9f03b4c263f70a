"""Results of lesson 09 (marked slow): detecting distillers in the API log.

At the `cpu` size (`make test-slow`) these assert the lesson's claims on held-out accounts,
over traffic seeds; at the `ci` size (`make test`) they check that the pipeline runs and
returns sane numbers. They read the same cached traffic logs as the notebook.
"""
import math

import numpy as np
import pytest

from course_utils import PROFILE, size

pytestmark = pytest.mark.slow
CLAIMS = PROFILE != "ci"


@pytest.fixture(scope="module")
def results():
    from course_utils.detection import evaluate_detectors
    from course_utils.teachers import lm_data, load_teacher
    from course_utils.traffic import traffic_runs
    S = size("extraction_traffic")
    teacher, tok = load_teacher("course-gpt2", progress=False)
    runs = traffic_runs(teacher, tok, lm_data(tok).corpus.train, S, progress=False)
    return {seed: evaluate_detectors(log, plan.truth(), folds=S.folds, seed=seed,
                                     prada_min=S.prada_min, step=S.step)
            for seed, (log, plan) in runs.items()}


def test_every_request_is_in_the_log(results):
    for r in results.values():
        assert set(r["scores"].columns) == {"rate", "prada", "classifier"}
        assert np.isfinite(r["scores"].to_numpy()).all()
        assert r["roc"]["auc"].between(0, 1).all()


def test_best_detector_auc_and_tpr_at_one_percent_fpr(results):
    auc = [r["roc"]["auc"].max() for r in results.values()]
    tpr = [r["roc"].loc[r["roc"]["auc"].idxmax(), "tpr_at_1pct_fpr"] for r in results.values()]
    if CLAIMS:
        assert np.mean(auc) >= 0.95, auc
        assert np.mean(tpr) >= 0.80, tpr
        # at the threshold set on validation accounts, the test honest accounts stay clean
        fpr = [r["operating"].loc[r["best"], "test_fpr"] for r in results.values()]
        assert np.mean(fpr) <= 0.05, fpr


def test_coordinated_group_is_found(results):
    from course_utils.detection import group_found
    for r in results.values():
        found = group_found(r["clusters"], r["truth"])
        if CLAIMS:
            assert found["recall"] >= 0.75 and found["precision"] >= 0.75, found


def test_naive_distillers_flagged_within_200_requests(results):
    medians = [r["qtd"]["requests"].median() for r in results.values()]
    if CLAIMS:
        assert np.mean(medians) <= 200, medians
        assert all(math.isfinite(m) for m in medians)


def test_adaptive_distiller_pays_more_per_harvested_token(results):
    for r in results.values():
        costs = r["costs"]
        levels = [s for s in costs.index if s.startswith("adaptive")]
        assert levels
        top = max(levels, key=lambda s: float(s.split()[1]))
        ratio = costs.loc[top, "account_days_per_1k_tokens"] / \
            costs.loc["snippets", "account_days_per_1k_tokens"]
        if CLAIMS:
            assert ratio >= 3, ratio
            assert costs.loc[top, "detected"] <= costs.loc["snippets", "detected"]
