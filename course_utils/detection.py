"""Detecting extraction in an API's request log (taught in lesson 09).

The provider's tools, all reading the log of :mod:`course_utils.api` (one row per request):

* :func:`account_features` -- one row per account: volume, tokens, cost, share of requests
  with log-probabilities, prompt diversity (distinct word bigrams, TF-IDF spread), template
  reuse, repeats, inter-arrival regularity, time-of-day profile;
* detectors, each giving a score per account (higher = more suspicious):
  :func:`rate_scores` (peak requests in an hour: what a rate rule sees),
  :func:`prada_scores` (the PRADA test of Juuti et al. 2019, arXiv:1805.02628),
  :func:`classifier_scores` (scikit-learn on the features, accounts split into folds so that
  no account -- and no coordinated group -- is on both sides);
* :func:`cluster_accounts` -- accounts grouped by what they ask and how, to find a
  coordinated group;
* evaluation: :func:`roc_table` (AUC, TPR at a false-positive rate of at most 1%),
  :func:`threshold_at_fpr` (the threshold that keeps the false-positive rate under a target on
  validation accounts), :func:`queries_to_detection` (requests and dollars a distiller gets
  before it is flagged);
* :class:`Watchdog` -- the provider checking each account every few requests and revoking its
  key when the detector flags it.
"""
from __future__ import annotations

import json
import math

import numpy as np

from .api.clock import DAY, HOUR

__all__ = ["prompts_of", "account_features", "FEATURES", "ngram_diversity", "prada_distances",
           "prada_statistic", "prada_scores", "rate_scores", "peak_per_hour", "classifier_scores",
           "threshold_at_fpr", "tpr_at_fpr", "roc_table", "queries_to_detection",
           "cluster_accounts", "Watchdog", "embed_prompts", "harvest_costs",
           "evaluate_detectors", "group_found", "plot_roc", "plot_arms_race"]

FEATURES = ("requests_per_day", "peak_per_hour", "prompt_tokens", "completion_tokens",
            "max_tokens", "cost_per_day", "logprob_share", "top_logprobs", "distinct_bigrams",
            "tfidf_spread", "template_reuse", "repeat_share", "gap_cv", "night_share",
            "weekend_share", "hour_entropy")


def prompts_of(log) -> list[str]:
    """The prompt text of each log row (the log stores it as JSON)."""
    out = []
    for p in log["prompt"]:
        try:
            v = json.loads(p) if isinstance(p, str) else ""
        except json.JSONDecodeError:
            v = p
        out.append(v if isinstance(v, str) else " ".join(map(str, v)) if v else "")
    return out


def ngram_diversity(prompts, n: int = 2) -> float:
    """Distinct word ``n``-grams over all word ``n``-grams of the prompts (0..1; 1 = no
    ``n``-gram ever repeats). Taught in lesson 09."""
    grams = []
    for p in prompts:
        words = p.lower().split()
        grams.extend(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def embed_prompts(prompts, n_features: int = 2 ** 12):
    """Prompts as L2-normalised vectors of hashed character 3-5-grams (no fitting, so a prefix
    of an account's history is embedded exactly as the whole)."""
    from sklearn.feature_extraction.text import HashingVectorizer
    vec = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=n_features,
                            alternate_sign=False, norm="l2")
    return vec.transform([p.lower() for p in prompts])


def _gap_cv(ts):
    gaps = np.diff(np.sort(np.asarray(ts, float)))
    gaps = gaps[gaps > 0]
    if len(gaps) < 2:
        return 0.0
    return float(gaps.std() / gaps.mean())


def peak_per_hour(ts) -> int:
    """The most requests in any one-hour window (sliding)."""
    ts = np.sort(np.asarray(ts, float))
    if len(ts) == 0:
        return 0
    ends = np.searchsorted(ts, ts + HOUR, side="left")
    return int((ends - np.arange(len(ts))).max())


def _template_reuse(prompts):
    """Share of prompts that start with the account's most common first three words."""
    heads = [" ".join(p.lower().split()[:3]) for p in prompts if p.split()]
    if len(heads) < 2:
        return 0.0
    from collections import Counter
    return Counter(heads).most_common(1)[0][1] / len(heads)


def _tfidf_spread(vectors):
    """Mean distance of an account's prompt vectors to their centroid."""
    if vectors.shape[0] < 2:
        return 0.0
    dense = vectors.toarray() if hasattr(vectors, "toarray") else np.asarray(vectors)
    centre = dense.mean(0, keepdims=True)
    return float(np.linalg.norm(dense - centre, axis=1).mean())


def _one_account(rows, prompts, vectors):
    ts = rows["ts"].to_numpy(float)
    span_days = max((ts.max() - ts.min()) / DAY, 1 / 24) if len(ts) else 1.0
    hours = (ts % DAY) / HOUR
    day = (ts // DAY) % 7
    hist = np.bincount(hours.astype(int) % 24, minlength=24) / max(len(ts), 1)
    nz = hist[hist > 0]
    top = rows["top_logprobs"].fillna(0).to_numpy(float)
    return dict(
        n_requests=len(rows),
        requests_per_day=len(rows) / span_days,
        peak_per_hour=peak_per_hour(ts),
        prompt_tokens=float(rows["prompt_tokens"].fillna(0).mean()),
        completion_tokens=float(rows["completion_tokens"].fillna(0).mean()),
        max_tokens=float(rows["max_tokens"].fillna(0).mean()),
        cost_usd=float(rows["cost_usd"].fillna(0).sum()),
        cost_per_day=float(rows["cost_usd"].fillna(0).sum()) / span_days,
        logprob_share=float((top > 0).mean()) if len(top) else 0.0,
        top_logprobs=float(top.mean()) if len(top) else 0.0,
        distinct_bigrams=ngram_diversity(prompts),
        tfidf_spread=_tfidf_spread(vectors),
        template_reuse=_template_reuse(prompts),
        repeat_share=1 - len(set(prompts)) / len(prompts) if prompts else 0.0,
        gap_cv=_gap_cv(ts),
        night_share=float(((hours < 7) | (hours >= 20)).mean()) if len(ts) else 0.0,
        weekend_share=float((day >= 5).mean()) if len(ts) else 0.0,
        hour_entropy=float(-(nz * np.log2(nz)).sum()),
    )


def account_features(log, first: int | None = None):
    """One row of features per account (``key_name``) from a request log (a DataFrame from
    :func:`course_utils.api.read_log`); ``first``: use only each account's first requests.

    Columns: ``n_requests`` and ``cost_usd`` (totals), then :data:`FEATURES` -- rates and
    shares that do not grow with the length of the history, so that a detector trained on
    whole histories also reads a short prefix. Taught in lesson 09.
    """
    import pandas as pd
    missing = {"ts", "key_name", "prompt", "top_logprobs", "cost_usd"} - set(log.columns)
    if missing:
        raise ValueError(f"account_features needs a request log with columns {sorted(missing)}; "
                         "read it with course_utils.api.read_log.")
    log = log[log["key_name"].notna()].sort_values(["ts"], kind="stable")
    rows = []
    for name, part in log.groupby("key_name", sort=True):
        if first is not None:
            part = part.iloc[:first]
        prompts = prompts_of(part)
        rows.append(dict(account=name, **_one_account(part, prompts, embed_prompts(prompts))))
    return pd.DataFrame(rows).set_index("account")


# --------------------------------------------------------------------------------------
# PRADA (Juuti, Szyller, Marchal, Asokan 2019, arXiv:1805.02628)
# --------------------------------------------------------------------------------------
def prada_distances(vectors) -> np.ndarray:
    """For each query after the first, its smallest L2 distance to the account's earlier
    queries (the PRADA set of distances). ``vectors``: one row per query, in order.
    Taught in lesson 09."""
    x = vectors if hasattr(vectors, "toarray") else np.asarray(vectors, float)
    if x.ndim != 2:
        raise ValueError(f"prada_distances takes one vector per row (2-D), not shape {x.shape}.")
    if x.shape[0] < 2:
        return np.zeros(0)
    gram = x @ x.T                                  # sparse stays sparse: n x n only
    gram = gram.toarray() if hasattr(gram, "toarray") else np.asarray(gram)
    sq = np.diag(gram)
    d2 = sq[:, None] + sq[None, :] - 2 * gram
    d = np.sqrt(np.clip(d2, 0, None))
    return np.array([d[i, :i].min() for i in range(1, x.shape[0])])


def prada_statistic(distances) -> float:
    """The Shapiro-Wilk W of a set of distances (1 = perfectly normal; PRADA flags an
    account when W falls below a threshold). Needs at least 3 distances. Lesson 09."""
    from scipy.stats import shapiro
    d = np.asarray(distances, float)
    if len(d) < 3:
        raise ValueError("The Shapiro-Wilk test needs at least 3 distances.")
    if np.ptp(d) == 0:
        return 0.0                    # all equal: as far from a bell curve as it gets
    return float(shapiro(d).statistic)


def prada_scores(log, min_distances: int = 20, every: int = 10, first: int | None = None):
    """PRADA per account: the lowest W over checks made every ``every`` queries once
    ``min_distances`` distances exist (the reference uses 100 and W < 0.9; our honest
    accounts send tens of requests, so we start at 20). Returns a Series of ``1 - min W``
    (0 for accounts with too few queries): higher = more suspicious. Lesson 09."""
    import pandas as pd
    log = log[log["key_name"].notna()].sort_values("ts", kind="stable")
    out = {}
    for name, part in log.groupby("key_name", sort=True):
        if first is not None:
            part = part.iloc[:first]
        d = prada_distances(embed_prompts(prompts_of(part)))
        ws = [prada_statistic(d[:k]) for k in range(min_distances, len(d) + 1, every)]
        out[name] = 1 - min(ws) if ws else 0.0
    return pd.Series(out, name="prada")


def rate_scores(log, first: int | None = None):
    """The rate rule's score per account: peak requests in any one hour."""
    import pandas as pd
    log = log[log["key_name"].notna()].sort_values("ts", kind="stable")
    return pd.Series({name: peak_per_hour(part["ts"].to_numpy()[:first])
                      for name, part in log.groupby("key_name", sort=True)}, name="rate")


# --------------------------------------------------------------------------------------
# A learned detector
# --------------------------------------------------------------------------------------
def _model(seed):
    from sklearn.ensemble import RandomForestClassifier
    return RandomForestClassifier(n_estimators=150, min_samples_leaf=2, random_state=seed,
                                  class_weight="balanced", n_jobs=1)


def classifier_scores(features, labels, groups=None, n_folds: int = 3, seed: int = 0,
                      train_mask=None):
    """Out-of-fold scores of a random forest on ``features`` (a DataFrame, :data:`FEATURES`):
    accounts are split into ``n_folds`` folds (stratified; accounts of one ``groups`` label
    kept together), each fold scored by a model trained on the others, so no account is
    ever on both sides. Accounts outside ``train_mask`` are never trained on (scored by every
    fold's model, averaged): e.g. a new kind of distiller the provider has not seen yet.
    Returns ``(scores, predict)``: ``predict(features)`` scores new feature rows (e.g. of a
    prefix of a history) with each account's own out-of-fold model (the average of all folds'
    models for accounts never trained on). Taught in lesson 09."""
    import pandas as pd
    from sklearn.model_selection import StratifiedGroupKFold
    x = features[list(FEATURES)].to_numpy(float)
    y = np.asarray(labels, int)
    groups = np.asarray(groups if groups is not None else features.index)
    train_mask = np.ones(len(y), bool) if train_mask is None else np.asarray(train_mask, bool)
    idx = np.flatnonzero(train_mask)
    scores = np.zeros(len(y))
    unseen = np.zeros(len(y))
    models = []
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(folds.split(x[idx], y[idx], groups[idx])):
        model = _model(seed + k).fit(x[idx[tr]], y[idx[tr]])
        scores[idx[te]] = model.predict_proba(x[idx[te]])[:, 1]
        if (~train_mask).any():
            unseen[~train_mask] += model.predict_proba(x[~train_mask])[:, 1] / n_folds
        models.append(model)
    scores[~train_mask] = unseen[~train_mask]
    fold_of = {}
    for k, (tr, te) in enumerate(folds.split(x[idx], y[idx], groups[idx])):
        fold_of.update({features.index[i]: k for i in idx[te]})

    def predict(rows):
        xr = rows[list(FEATURES)].to_numpy(float)
        which = np.array([fold_of.get(name, -1) for name in rows.index])
        out = np.zeros(len(rows))
        for k, m in enumerate(models):
            p = m.predict_proba(xr)[:, 1]
            out[which == k] = p[which == k]
            out[which == -1] += p[which == -1] / len(models)
        return pd.Series(out, index=rows.index, name="classifier")

    return pd.Series(scores, index=features.index, name="classifier"), predict


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
def threshold_at_fpr(scores, labels, max_fpr: float = 0.01) -> float:
    """The lowest threshold (flag when score >= threshold) that flags at most ``max_fpr`` of
    the honest accounts (label 0) among ``scores``. Taught in lesson 09."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, int)
    honest = np.sort(s[y == 0])[::-1]
    if len(honest) == 0:
        raise ValueError("threshold_at_fpr needs at least one honest account (label 0).")
    allowed = int(math.floor(max_fpr * len(honest) + 1e-9))   # honest accounts we may flag
    if allowed >= len(honest):
        return -np.inf
    # flag everything strictly above the (allowed+1)-th highest honest score
    return float(np.nextafter(honest[allowed], np.inf))


def tpr_at_fpr(scores, labels, max_fpr: float = 0.01) -> float:
    """The share of distillers flagged at the threshold that keeps FPR <= ``max_fpr``."""
    s, y = np.asarray(scores, float), np.asarray(labels, int)
    t = threshold_at_fpr(s, y, max_fpr)
    return float((s[y == 1] >= t).mean())


def roc_table(scores: dict, labels, max_fpr: float = 0.01):
    """AUC and TPR at FPR <= ``max_fpr`` of each detector (``{name: scores}``) on the same
    accounts, as a DataFrame."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    y = np.asarray(labels, int)
    return pd.DataFrame([dict(detector=k, auc=roc_auc_score(y, np.asarray(v, float)),
                              tpr_at_1pct_fpr=tpr_at_fpr(v, y, max_fpr))
                         for k, v in scores.items()]).set_index("detector")


def queries_to_detection(log, accounts, score_prefix, threshold, step: int = 10):
    """For each account, how many of its first requests it sends before ``score_prefix(log,
    first)`` (a Series of scores per account) reaches ``threshold``, and the dollars those
    requests cost; ``inf`` requests (and the whole bill) if never flagged. Lesson 09."""
    import pandas as pd
    log = log[log["key_name"].isin(list(accounts))].sort_values("ts", kind="stable")
    sizes = log.groupby("key_name").size()
    costs = {n: p["cost_usd"].fillna(0).cumsum().to_numpy()
             for n, p in log.groupby("key_name")}
    flagged = {}
    for first in range(step, int(sizes.max()) + step, step):
        live = [a for a in accounts if a not in flagged]
        if not live:
            break
        s = score_prefix(log[log["key_name"].isin(live)], first)
        for a in live:
            if a in s.index and s[a] >= threshold:
                flagged[a] = min(first, int(sizes[a]))
    rows = []
    for a in accounts:
        q = flagged.get(a, math.inf)
        c = costs[a][int(q) - 1] if q != math.inf else costs[a][-1]
        rows.append(dict(account=a, requests=q, dollars=float(c), sent=int(sizes[a])))
    return pd.DataFrame(rows).set_index("account")


# --------------------------------------------------------------------------------------
# Coordinated accounts
# --------------------------------------------------------------------------------------
def cluster_accounts(log, distance: float = 0.5, min_requests: int = 5):
    """Group accounts that ask alike: each account is the mean of its prompts' TF-IDF
    vectors (word 1-2-grams) joined with its request settings (``max_tokens``,
    ``top_logprobs`` as one-hot); accounts are merged by average-linkage clustering on cosine
    distance up to ``distance``. Returns a Series: account -> cluster id (-1: too few
    requests). Taught in lesson 09."""
    import pandas as pd
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize
    log = log[log["key_name"].notna()]
    everyone = set(log["key_name"])
    names = sorted(n for n, p in log.groupby("key_name") if len(p) >= min_requests)
    if len(names) < 2:
        return pd.Series(-1, index=sorted(log["key_name"].unique()), name="cluster")
    log = log[log["key_name"].isin(names)]
    prompts = prompts_of(log)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(prompts)
    text = np.vstack([np.asarray(tfidf.transform(prompts_of(p)).mean(0))
                      for _, p in log.groupby("key_name", sort=True)])
    settings = pd.get_dummies(log.groupby("key_name", sort=True)[["max_tokens", "top_logprobs"]]
                              .agg(lambda s: s.mode().iloc[0]).astype(str)).to_numpy(float)
    x = np.hstack([normalize(text), 0.5 * normalize(settings)])
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=distance).fit_predict(x)
    out = pd.Series(labels, index=names, name="cluster")
    rest = pd.Series(-1, index=sorted(everyone - set(names)), name="cluster")
    return pd.concat([out, rest]).sort_index()


# --------------------------------------------------------------------------------------
# Acting on it
# --------------------------------------------------------------------------------------
class Watchdog:
    """The provider watching its accounts: after every ``every``-th answered request of an
    account, ``score(log_of_that_account)`` is computed from the server's log; at or above
    ``threshold`` the account's key is revoked (its next request gets ``403``).

    In this simulation the check runs in the client's process, as an ``httpx`` response hook
    (``openai.OpenAI(http_client=httpx.Client(event_hooks={"response": [watchdog]}))``), so it
    happens at a fixed point of the harvest; a real provider runs it beside the server.
    Taught in lesson 09.
    """

    def __init__(self, api, score, threshold: float, every: int = 10):
        self.api, self.score, self.threshold, self.every = api, score, float(threshold), int(every)
        self.counts: dict = {}
        self.revoked: dict = {}

    def __call__(self, response) -> None:
        header = response.request.headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else ""
        policy = self.api.keys.get(key)
        if policy is None or policy.revoked or response.status_code != 200:
            return
        n = self.counts[policy.name] = self.counts.get(policy.name, 0) + 1
        if n % self.every:
            return
        from .api import read_log
        value = float(self.score(read_log(self.api.log_path, key_name=policy.name)))
        if value >= self.threshold:
            self.api.revoke(key, reason=f"automated extraction detected after {n} requests")
            self.revoked[policy.name] = n


# --------------------------------------------------------------------------------------
# Everything lesson 09 measures on one log
# --------------------------------------------------------------------------------------
def harvest_costs(log, truth, flagged=None):
    """Per strategy (``kind``, adaptive distillers by level): accounts, share flagged,
    completion tokens bought, dollars and account-days (each account's first to last request,
    at least one hour) per 1,000 harvested completion tokens. Taught in lesson 09."""
    import pandas as pd
    ok = log[(log["status"] == 200) & log["key_name"].isin(truth.index)]
    per = ok.groupby("key_name").agg(tokens=("completion_tokens", "sum"),
                                     dollars=("cost_usd", "sum"), t0=("ts", "min"),
                                     t1=("ts", "max"))
    per["days"] = np.maximum((per.t1 - per.t0) / DAY, 1 / 24)
    t = truth.loc[per.index]
    per["strategy"] = np.where(t.kind == "adaptive",
                               ["adaptive " + f"{v:g}" for v in t.level], t.kind)
    per["flagged"] = [bool(flagged.get(a, False)) if flagged is not None else False
                      for a in per.index]
    g = per[t.distiller.to_numpy()].groupby("strategy")
    out = g.agg(accounts=("tokens", "size"), detected=("flagged", "mean"),
                tokens=("tokens", "sum"), dollars=("dollars", "sum"), account_days=("days", "sum"))
    out["dollars_per_1k_tokens"] = 1000 * out.dollars / out.tokens
    out["account_days_per_1k_tokens"] = 1000 * out.account_days / out.tokens
    return out


def evaluate_detectors(log, truth, *, folds: int = 3, seed: int = 0, prada_min: int = 20,
                       max_fpr: float = 0.01, step: int = 10, progress: bool = False):
    """Lesson 09's whole comparison on one traffic log with its ground truth (``truth``: a
    DataFrame indexed by account with ``distiller``, ``kind``, ``group``, ``level``).

    The detectors (rate, PRADA, classifier) score every account; the classifier is trained on
    honest and non-adaptive distilling accounts only, out of fold. Honest accounts are split in
    two halves: the threshold of each detector is set on the *validation* half (at most
    ``max_fpr`` of it flagged) and every rate is read on the other, *test* half and the
    distillers. Returns a dict: ``features``, ``scores``, ``roc`` (AUC and TPR at FPR <=
    ``max_fpr`` of each detector on test honest vs non-adaptive distillers), ``operating``
    (threshold, test FPR, TPR per detector at the validation threshold), ``qtd`` (queries to
    detection of each non-adaptive distiller, best detector), ``costs`` (the arms race, best
    detector), ``clusters``, ``best``. Taught in lesson 09.
    """
    import pandas as pd
    feats = account_features(log)
    truth = truth.loc[feats.index]
    y = truth["distiller"].astype(int).to_numpy()
    adaptive = (truth["kind"] == "adaptive").to_numpy()
    groups = np.where(truth["group"] != "", truth["group"], truth.index)
    clf, predict = classifier_scores(feats, y, groups, n_folds=folds, seed=seed,
                                     train_mask=~adaptive)
    scores = pd.DataFrame({"rate": rate_scores(log), "prada": prada_scores(log, prada_min),
                           "classifier": clf}).loc[feats.index]
    rng = np.random.default_rng(seed)
    honest = np.flatnonzero(y == 0)
    val = np.zeros(len(y), bool)
    val[rng.permutation(honest)[: len(honest) // 2]] = True
    test = ~val & ~adaptive
    roc = roc_table({c: scores[c].to_numpy()[test] for c in scores}, y[test], max_fpr)
    operating = []
    for c in scores:
        thr = threshold_at_fpr(scores[c].to_numpy()[val], np.zeros(val.sum()), max_fpr)
        s = scores[c].to_numpy()
        operating.append(dict(detector=c, threshold=thr,
                              test_fpr=float((s[test & (y == 0)] >= thr).mean()),
                              tpr=float((s[test & (y == 1)] >= thr).mean()),
                              adaptive_tpr=float((s[adaptive] >= thr).mean())
                              if adaptive.any() else float("nan")))
    operating = pd.DataFrame(operating).set_index("detector")
    best = roc["auc"].idxmax()
    thr = operating.loc[best, "threshold"]
    prefix = {"rate": lambda lg, k: rate_scores(lg, first=k),
              "prada": lambda lg, k: prada_scores(lg, prada_min, first=k),
              "classifier": lambda lg, k: predict(account_features(lg, first=k))}[best]
    naive = list(feats.index[(y == 1) & ~adaptive])
    qtd = queries_to_detection(log, naive, prefix, thr, step=step)
    qtd = qtd.join(truth[["kind"]])
    flagged = dict(zip(feats.index, scores[best].to_numpy() >= thr))
    costs = harvest_costs(log, truth, flagged)
    clusters = cluster_accounts(log)
    return dict(features=feats, truth=truth, scores=scores, roc=roc, operating=operating,
                qtd=qtd, costs=costs, clusters=clusters, best=best, threshold=thr,
                test=test, validation=val)


def group_found(clusters, truth, group: str = "group-1") -> dict:
    """How well one cluster matches a coordinated ``group``: the cluster holding most of its
    members, the share of members in it (recall) and the share of it that are members
    (precision)."""
    members = set(truth.index[truth["group"] == group])
    if not members:
        raise ValueError(f"No account of group {group!r} in the ground truth.")
    c = clusters.reindex(sorted(members)).dropna()
    c = c[c >= 0]
    if c.empty:
        return dict(cluster=-1, recall=0.0, precision=0.0)
    best = int(c.mode().iloc[0])
    inside = set(clusters.index[clusters == best])
    return dict(cluster=best, recall=len(inside & members) / len(members),
                precision=len(inside & members) / len(inside))


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------
def plot_roc(results, ax=None, max_fpr: float = 0.01):
    """ROC curves of each detector on the held-out accounts of one or more runs of
    :func:`evaluate_detectors` (curves of every run drawn thin, the 1% line marked), with the
    false-positive rate on a log axis: the region left of 1% is the one that matters."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve
    results = results if isinstance(results, (list, tuple)) else [results]
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    colors = dict(rate="tab:gray", prada="tab:orange", classifier="tab:blue")
    for i, r in enumerate(results):
        test = r["test"]
        y = r["truth"]["distiller"].astype(int).to_numpy()[test]
        for name in r["scores"]:
            fpr, tpr, _ = roc_curve(y, r["scores"][name].to_numpy()[test])
            ax.step(np.maximum(fpr, 1e-3), tpr, where="post", color=colors.get(name),
                    alpha=0.8, label=name if i == 0 else None)
    ax.axvline(max_fpr, color="red", ls="--", lw=1, label=f"FPR = {max_fpr:.0%}")
    ax.set(xscale="log", xlim=(1e-3, 1.05), ylim=(-0.02, 1.02),
           xlabel="false-positive rate (honest accounts flagged; 1e-3 = none)",
           ylabel="true-positive rate (distillers flagged)", title="ROC on held-out accounts")
    ax.legend(loc="lower right")
    return ax


def plot_arms_race(costs, ax=None):
    """Each distilling strategy: its detection rate (at the 1% operating point) against what it
    pays per 1,000 harvested tokens in account-days (log axis)."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for name, row in costs.iterrows():
        adaptive = str(name).startswith("adaptive")
        ax.scatter(row["detected"], row["account_days_per_1k_tokens"], s=60,
                   color="tab:red" if adaptive else "tab:blue", marker="s" if adaptive else "o")
        ax.annotate(str(name), (row["detected"], row["account_days_per_1k_tokens"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(yscale="log", xlim=(-0.05, 1.15), xlabel="share of the strategy's accounts flagged",
           ylabel="account-days per 1,000 harvested tokens",
           title="The arms race: evading costs time and identities")
    return ax
