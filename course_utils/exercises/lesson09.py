"""Questions of lesson 09 (detecting extraction in API logs): a feature, PRADA, a threshold."""
from __future__ import annotations

import math

import numpy as np

from ..detection import prada_distances as _prada_distances
from ..detection import prada_statistic as _prada_statistic
from ..detection import threshold_at_fpr as _threshold_at_fpr
from .core import (CustomProblem, FunctionProblem, Incorrect, ____, call_learner, as_real,
                   describe)

__all__ = ["q1", "q2", "q3", "____"]


# --------------------------------------------------------------------------------------
# q1: one feature from the log
# --------------------------------------------------------------------------------------
def _logprob_share(log, account):
    rows = log[log["key_name"] == account]
    return float((rows["top_logprobs"].fillna(0) > 0).mean())


def _log(seed):
    """A small request log: three accounts, refused rows (no top_logprobs), a bad-key row."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(40):
        name = ["alice", "bob", "carol"][int(rng.integers(3))]
        status = 200 if rng.random() > 0.2 else int(rng.choice([429, 403]))
        top = float(rng.choice([0, 0, 1, 5, 20])) if status == 200 else float("nan")
        rows.append(dict(ts=float(i * 60), key_name=name, status=status, top_logprobs=top,
                         prompt='"hello"', cost_usd=0.001 if status == 200 else None))
    rows.append(dict(ts=2400.0, key_name=None, status=401, top_logprobs=float("nan"),
                     prompt='"x"', cost_usd=None))
    return pd.DataFrame(rows)


def _q1_cases():
    return [((_log(s), a), {}) for s, a in [(0, "alice"), (1, "bob"), (2, "carol"), (3, "bob")]]


q1 = FunctionProblem(
    name="q1", var="logprob_share", reference=_logprob_share, cases=_q1_cases, rtol=1e-9,
    atol=1e-12,
    mistakes=[
        (lambda log, a: float((log["top_logprobs"].fillna(0) > 0).mean()),
         "you took the share over the whole log: keep only the rows of `account` "
         "(`log.key_name == account`)."),
        (lambda log, a: float((log[log["key_name"] == a]["top_logprobs"].fillna(0) > 0).sum()),
         "that is a count of requests; the feature is a *share* (divide by the account's "
         "number of requests)."),
        (lambda log, a: float(log[log["key_name"] == a]["top_logprobs"].notna().mean()),
         "`notna()` counts requests that asked for 0 alternatives too: a request asks for "
         "log-probabilities when `top_logprobs > 0`."),
        (lambda log, a: float((log[log["key_name"] == a]["top_logprobs"].dropna() > 0).mean()),
         "you dropped the refused requests (no `top_logprobs` in their row) from the count: "
         "every request of the account counts, a refused one as not asking."),
        (lambda log, a: float(log[log["key_name"] == a]["top_logprobs"].fillna(0).mean()),
         "that is the mean number of alternatives asked for, not the share of requests that "
         "asked for any."),
        (lambda log, a: float((log[log["key_name"] == a]["top_logprobs"].fillna(0) > 1).mean()),
         "`top_logprobs=1` asks for log-probabilities too: compare with `> 0`."),
    ],
    hints=["`rows = log[log.key_name == account]` keeps one account's requests.",
           "`(rows.top_logprobs.fillna(0) > 0).mean()` is the share of them with a value above 0."],
    solution="```python\ndef logprob_share(log, account):\n"
             "    rows = log[log.key_name == account]\n"
             "    return float((rows.top_logprobs.fillna(0) > 0).mean())\n```",
    correct_message="a distiller wants soft targets, so it asks for log-probabilities far more "
                    "often than a chat user does.",
)


# --------------------------------------------------------------------------------------
# q2: the PRADA statistic of one account
# --------------------------------------------------------------------------------------
def _prada_w(vectors):
    return _prada_statistic(_prada_distances(vectors))


def _q2_cases():
    rng = np.random.default_rng(9)
    gauss = rng.normal(size=(40, 6))
    q = list(rng.normal(size=(4, 5)))
    for _ in range(36):
        q.append(q[int(rng.integers(len(q)))] + 0.1 * np.sign(rng.normal(size=5)))
    mixed = np.vstack([rng.normal(size=(15, 8)), rng.normal(size=(15, 8)) * 0.1 + 3])
    ramp = np.cumsum(rng.exponential(size=(25, 3)), axis=0)   # each query further from the last
    return [((gauss,), {}), ((np.array(q),), {}), ((mixed,), {}), ((ramp,), {})]


def _dists(v, fn):
    v = np.asarray(v, float)
    d = np.sqrt(((v[:, None, :] - v[None, :, :]) ** 2).sum(-1))
    return fn(v, d)


def _nearest_any(v):      # nearest neighbour among all other queries, also later ones
    def f(v, d):
        np.fill_diagonal(d, np.inf)
        return d.min(1)
    return _w(_dists(v, f))


def _previous_only(v):    # distance to the query just before
    return _w(np.linalg.norm(np.diff(np.asarray(v, float), axis=0), axis=1))


def _mean_earlier(v):     # mean instead of min
    return _w(_dists(v, lambda v, d: np.array([d[i, :i].mean() for i in range(1, len(v))])))


def _squared(v):
    return _w(_prada_distances(v) ** 2)


def _pvalue(v):
    from scipy.stats import shapiro
    return float(shapiro(_prada_distances(v)).pvalue)


def _w(d):
    from scipy.stats import shapiro
    return float(shapiro(np.asarray(d, float)).statistic)


q2 = FunctionProblem(
    name="q2", var="prada_w", reference=_prada_w, cases=_q2_cases, rtol=1e-6, atol=1e-9,
    mistakes=[
        (_nearest_any, "you took each query's nearest neighbour among *all* queries; PRADA "
                       "looks only at the *earlier* ones (what the provider has seen so far)."),
        (_previous_only, "that is the distance to the one query just before; PRADA takes the "
                         "*minimum* distance to every earlier query."),
        (_mean_earlier, "you took the mean distance to the earlier queries; PRADA takes the "
                        "minimum (the nearest earlier query)."),
        (_squared, "those are squared distances: take the square root (L2 distance)."),
        (_pvalue, "that is the test's p-value; PRADA thresholds the statistic W itself "
                  "(`shapiro(d).statistic`)."),
    ],
    hints=["For query i (from the second on), `np.linalg.norm(v[:i] - v[i], axis=1).min()`.",
           "Then `scipy.stats.shapiro(distances).statistic` is W."],
    solution="```python\ndef prada_w(vectors):\n"
             "    d = [np.linalg.norm(vectors[:i] - vectors[i], axis=1).min()\n"
             "         for i in range(1, len(vectors))]\n"
             "    return float(shapiro(d).statistic)\n```",
    correct_message="W near 1: the distances look like a bell curve (what PRADA expects of "
                    "natural queries); far below 1: something is generating them.",
)


# --------------------------------------------------------------------------------------
# q3: the threshold that keeps the false-positive rate under 1% on validation accounts
# --------------------------------------------------------------------------------------
def _q3_cases():
    rng = np.random.default_rng(4)
    cases = []
    for n_honest, n_dist, max_fpr in [(250, 30, 0.01), (60, 10, 0.01), (120, 20, 0.05),
                                      (400, 40, 0.01)]:
        honest = rng.beta(2, 5, n_honest)
        dist = rng.beta(5, 2, n_dist)
        scores = np.concatenate([honest, dist])
        labels = np.array([0] * n_honest + [1] * n_dist)
        order = rng.permutation(len(scores))
        cases.append((scores[order].round(3), labels[order], max_fpr))
    # ties: honest scores equal to the threshold's neighbourhood
    cases.append((np.array([0.2, 0.5, 0.5, 0.9, 0.7, 0.5, 0.95, 0.3] * 15),
                  np.array([0, 0, 0, 0, 1, 1, 1, 0] * 15), 0.02))
    return cases


def _check_threshold(threshold_for):
    if not callable(threshold_for):
        raise Incorrect(f"`threshold_for` should be a function, but it is "
                        f"{describe(threshold_for)}.")
    for scores, labels, max_fpr in _q3_cases():
        call = f"threshold_for(scores, labels, max_fpr={max_fpr})"
        out = call_learner(threshold_for, "threshold_for", (scores.copy(), labels.copy()),
                           {"max_fpr": max_fpr})
        if out is None:
            raise Incorrect(f"`{call}` returned None. Did you forget a `return` statement?")
        t = as_real(out, f"the result of {call}")
        if math.isnan(t):
            raise Incorrect(f"`{call}` returned NaN.")
        honest, dist = scores[labels == 0], scores[labels == 1]
        fpr = float((honest >= t).mean())
        best = _threshold_at_fpr(scores, labels, max_fpr)
        if fpr > max_fpr + 1e-12:
            raise Incorrect(f"with the threshold from `{call}`, {fpr:.1%} of the honest "
                            f"accounts are flagged (score >= threshold), more than "
                            f"{max_fpr:.0%}. Set it from the honest accounts' scores only, so "
                            "that at most that share of them reach it (ties count as flagged).")
        if (dist >= t).sum() < (dist >= best).sum():
            raise Incorrect(f"the threshold from `{call}` keeps the false-positive rate under "
                            f"{max_fpr:.0%} but is higher than it needs to be: it lets "
                            "distillers through that a lower threshold would catch without "
                            "flagging more honest accounts. Take the lowest threshold that "
                            "keeps the rate.")


q3 = CustomProblem(
    name="q3", vars=["threshold_for"], checker=_check_threshold,
    hints=["Sort the honest accounts' scores from high to low; you may flag "
           "`floor(max_fpr * n_honest)` of them.",
           "The threshold must be just above the next honest score: "
           "`np.nextafter(score, np.inf)` is the next float above `score`."],
    solution="```python\ndef threshold_for(scores, labels, max_fpr=0.01):\n"
             "    honest = np.sort(scores[labels == 0])[::-1]\n"
             "    allowed = int(np.floor(max_fpr * len(honest)))\n"
             "    return np.nextafter(honest[allowed], np.inf)\n```",
    correct_message="that threshold was set on validation accounts; on new accounts the "
                    "false-positive rate is only *about* 1% -- which is why the lesson reads "
                    "it on a separate test half.",
)
