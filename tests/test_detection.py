"""Lesson 09's traffic generator and detectors (fast: a tiny model, a small plan)."""
import json

import numpy as np
import pandas as pd
import pytest

openai = pytest.importorskip("openai")

from course_utils.api import SimClock, TeacherAPI, read_log
from course_utils.api.clock import DAY, HOUR
from course_utils.detection import (FEATURES, Watchdog, account_features, classifier_scores,
                                    cluster_accounts, group_found, harvest_costs,
                                    ngram_diversity, peak_per_hour, prada_distances,
                                    prada_scores, prada_statistic, queries_to_detection,
                                    rate_scores, roc_table, threshold_at_fpr, tpr_at_fpr)
from course_utils.traffic import DISTILLER_KINDS, HONEST_KINDS, plan_traffic, run_traffic
from tiny_lm import _text, one_thread, tiny_model

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)
SMALL = dict(days=2, honest_per_kind=2, honest_requests=5, distillers_per_kind=1,
             distiller_requests=12, group_size=3, adaptive_levels=(1.0,), adaptive_accounts=1,
             max_tokens=2, long_max_tokens=4, rpm=20, max_chars=40)


@pytest.fixture(scope="module")
def texts():
    return _text().split("\n\n")


@pytest.fixture(scope="module")
def played(texts, tmp_path_factory):
    model, tok = tiny_model()
    plan = plan_traffic(texts, seed=3, **SMALL)
    clock = SimClock()
    path = tmp_path_factory.mktemp("traffic") / "log.sqlite"
    with TeacherAPI(model, tok, keys={}, log_path=path, clock=clock) as api:
        statuses = run_traffic(api, plan, clock, progress=False)
        accounts = api.accounts()
    return plan, statuses, read_log(path), accounts


def test_plan_has_every_kind_and_is_deterministic(texts):
    a, b = plan_traffic(texts, seed=1, **SMALL), plan_traffic(texts, seed=1, **SMALL)
    assert a.table().equals(b.table())
    assert not a.table().equals(plan_traffic(texts, seed=2, **SMALL).table())
    truth = a.truth()
    assert set(truth.kind) == set(HONEST_KINDS) | set(DISTILLER_KINDS) | {"adaptive"}
    assert (truth.distiller == truth.kind.isin(DISTILLER_KINDS + ("adaptive",))).all()
    assert (truth.group == "group-1").sum() == 3
    times = [r.t for r in a.requests]
    assert times == sorted(times) and max(times) < SMALL["days"] * DAY + DAY
    # every steady distiller stays under the rate limit: at most rpm requests in any minute
    tab = a.table()
    for name, part in tab.groupby("account"):
        ts = np.sort(part.t.to_numpy())
        assert (np.searchsorted(ts, ts + 60.0) - np.arange(len(ts))).max() <= SMALL["rpm"], name
    with pytest.raises(ValueError):
        plan_traffic(texts, days=0)


def test_ground_truth_matches_the_log_row_for_row(played):
    plan, statuses, log, accounts = played
    assert len(log) == len(plan.requests) == len(statuses)
    tab = plan.table()
    assert list(log.key_name) == list(tab.account)
    assert np.allclose(log.ts.to_numpy(), tab.t.to_numpy())
    assert [json.loads(p) for p in log.prompt] == list(tab.prompt)
    assert list(log.max_tokens) == list(tab.max_tokens)
    assert list(log.top_logprobs.fillna(0).astype(int)) == list(tab.top_logprobs)
    assert list(log.status) == statuses and set(statuses) == {200}
    assert sorted(accounts.name) == sorted(a.name for a in plan.accounts)


def test_features_separate_kinds(played):
    plan, _, log, _ = played
    feats = account_features(log)
    truth = plan.truth().loc[feats.index]
    assert set(FEATURES) <= set(feats.columns) and len(feats) == len(plan.accounts)
    assert np.isfinite(feats[list(FEATURES)].to_numpy(float)).all()
    logp = feats.loc[truth.kind == "logprobs", "top_logprobs"]
    assert (logp == 20).all()
    step = feats.loc[truth.kind == "step_by_step", "template_reuse"]
    assert (step == 1.0).all()
    honest = feats.loc[~truth.distiller, "night_share"]
    steady = feats.loc[truth.kind.isin(["snippets", "logprobs"]), "requests_per_day"]
    assert steady.min() > feats.loc[truth.kind == "developer", "requests_per_day"].max()
    assert honest.max() <= 1.0
    with pytest.raises(ValueError, match="read_log"):
        account_features(pd.DataFrame({"x": [1]}))
    # a prefix of the history gives the same features as a log cut by hand
    first = account_features(log, first=5)
    cut = log.sort_values("ts", kind="stable").groupby("key_name").head(5)
    pd.testing.assert_frame_equal(first, account_features(cut))


def test_small_helpers():
    assert ngram_diversity(["a b c", "a b d"]) == pytest.approx(3 / 4)
    assert ngram_diversity([]) == 0.0
    assert peak_per_hour([0, 10, 20, 4000, 4001]) == 3
    assert peak_per_hour([]) == 0


def test_prada_separates_gaussian_from_structured_queries():
    rng = np.random.default_rng(0)
    for _ in range(3):
        gaussian = rng.normal(size=(150, 20))
        q = list(rng.normal(size=(10, 20)))
        for _ in range(140):            # synthetic queries: small steps from earlier ones
            q.append(q[rng.integers(len(q))] + 0.05 * np.sign(rng.normal(size=20)))
        w_gauss = prada_statistic(prada_distances(gaussian))
        w_synth = prada_statistic(prada_distances(np.array(q)))
        assert w_gauss > 0.95 and w_synth < 0.9    # PRADA's reference threshold
    d = prada_distances(np.array([[0.0, 0], [3, 4], [0, 1]]))
    assert np.allclose(d, [5.0, 1.0])
    assert prada_statistic([1.0, 1.0, 1.0]) == 0.0
    with pytest.raises(ValueError):
        prada_statistic([1.0, 2.0])
    with pytest.raises(ValueError):
        prada_distances(np.zeros(3))


def test_thresholds_and_roc():
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.5, 0.95, 0.8])
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    t = threshold_at_fpr(s, y, 0.01)
    assert t > 0.9 and (s[y == 0] >= t).sum() == 0
    assert tpr_at_fpr(s, y, 0.01) == pytest.approx(1 / 3)
    assert threshold_at_fpr(s, y, 0.25) <= 0.3 + 1e-9 and (s[y == 0] >= threshold_at_fpr(
        s, y, 0.25)).sum() == 1
    table = roc_table({"a": s, "b": -s}, y)
    assert table.loc["a", "auc"] == pytest.approx(10 / 12)
    assert table.loc["b", "auc"] == pytest.approx(2 / 12)
    with pytest.raises(ValueError):
        threshold_at_fpr([0.5], [1])


def test_detectors_run_on_the_log(played):
    plan, _, log, _ = played
    truth = plan.truth()
    feats = account_features(log)
    y = truth.loc[feats.index].distiller.astype(int)
    scores, predict = classifier_scores(feats, y, n_folds=2)
    assert scores.between(0, 1).all() and len(scores) == len(feats)
    assert np.allclose(predict(feats), scores)             # each account its own fold's model
    rate = rate_scores(log)
    assert rate[truth.kind == "snippets"].min() >= 10
    assert prada_scores(log, min_distances=5).between(0, 1).all()
    qtd = queries_to_detection(log, list(truth.index[truth.kind == "snippets"]),
                               lambda lg, k: rate_scores(lg, first=k), threshold=10, step=5)
    assert (qtd.requests == 10).all() and (qtd.dollars > 0).all()
    clusters = cluster_accounts(log)
    assert set(clusters.index) == set(truth.index)
    found = group_found(clusters, truth)
    assert found["recall"] == 1.0
    costs = harvest_costs(log, truth, {a: True for a in truth.index})
    assert (costs.detected == 1.0).all() and (costs.account_days_per_1k_tokens > 0).all()


def test_watchdog_revokes_mid_harvest(tmp_path, texts):
    import httpx
    from course_utils.harvest import harvest, load_harvest
    model, tok = tiny_model()
    clock = SimClock()
    with TeacherAPI(model, tok, keys={}, log_path=tmp_path / "l.sqlite", clock=clock) as api:
        key = api.add_account("harvester")
        dog = Watchdog(api, lambda lg: len(lg), threshold=6, every=3)
        client = openai.OpenAI(base_url=api.base_url, api_key=key, max_retries=0,
                               http_client=httpx.Client(event_hooks={"response": [dog]}))
        prompts = [f"prompt {i}" for i in range(20)]
        with pytest.raises(openai.PermissionDeniedError):
            harvest(client, prompts, tmp_path / "h", model=api.model_name, budget_usd=1.0,
                    price_per_1k_prompt=0.002, max_tokens=2, save_every=2, progress=False,
                    sleep=clock.advance)
        assert dog.revoked == {"harvester": 6}
        assert len(load_harvest(tmp_path / "h")) == 6        # what was bought is kept
        log = read_log(api.log_path)
        assert list(log.status) == [200] * 6 + [403]
        # a fresh account resumes the same harvest where it stopped
        client2 = openai.OpenAI(base_url=api.base_url, api_key=api.add_account("second"),
                                max_retries=0)
        done = harvest(client2, prompts, tmp_path / "h", model=api.model_name, budget_usd=1.0,
                       price_per_1k_prompt=0.002, max_tokens=2, save_every=2, progress=False)
        assert sorted(done["prompt_id"]) == list(range(20))
