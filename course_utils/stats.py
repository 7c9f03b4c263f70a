"""Experiments over seeds: multi-seed runners, mean +/- std tables and significance tests.

* :func:`run_seeds` / :func:`run_table` run every method on every seed (taught in lesson 02,
  used by every later lesson of Part I);
* :func:`mean_std`, :func:`summarize`, :func:`summarize_table`, :func:`paired_test`,
  :func:`compare_to` -- claims that depend on chance, stated with their spread and a paired
  test (taught in lesson 02);
* :func:`compare_pairs` -- the paired test beside each difference a lesson claims, with its
  verdict ("inside the noise" or not), from a wide table of runs (lessons 07 and 08).
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value).

    Taught in lesson 02.
    """
    values = np.asarray(list(values), dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def fmt_mean_std(values, scale: float = 100.0, digits: int = 1) -> str:
    """``"91.3 ± 0.8"`` (percent by default)."""
    mean, std = mean_std(values)
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def paired_test(a, b) -> dict:
    """Paired t-test of ``a`` against ``b`` (same seeds), with the mean difference.

    Returns ``{"diff": mean(a - b), "t": ..., "p": ..., "n": ...}``; ``p`` is two-sided and
    NaN with fewer than two pairs or when every difference is the same.

    Taught in lesson 02.
    """
    from scipy import stats
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"Paired test needs the same number of runs, got {len(a)} and {len(b)}.")
    diff = a - b
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        return {"diff": float(diff.mean()) if len(diff) else float("nan"),
                "t": float("nan"), "p": float("nan"), "n": int(len(diff))}
    result = stats.ttest_rel(a, b)
    return {"diff": float(diff.mean()), "t": float(result.statistic), "p": float(result.pvalue),
            "n": int(len(diff))}


def summarize(results: dict[str, list[float]], scale: float = 100.0):
    """A pandas table: one row per method, mean, std, and each seed's value."""
    import pandas as pd
    rows = []
    for method, values in results.items():
        mean, std = mean_std(values)
        rows.append({"method": method, "mean": mean * scale, "std": std * scale,
                     "runs": len(values), "values": [round(v * scale, 2) for v in values]})
    return pd.DataFrame(rows).set_index("method").round(2)


def per_seed(table, metric: str) -> dict[str, list[float]]:
    """``{method: [value per seed]}`` for one metric of a tidy table (from ``run_table``).

    Methods keep the order they first appear in; values are sorted by seed, so two methods'
    lists are paired.
    """
    part = table[table["metric"] == metric]
    if part.empty:
        known = sorted(table["metric"].unique())
        raise KeyError(f"No metric {metric!r} in the table; it has {known}.")
    out = {}
    for method in dict.fromkeys(part["method"]):
        rows = part[part["method"] == method].sort_values("seed")
        out[method] = rows["value"].tolist()
    return out


def summarize_table(table, metrics=None, scale=None, digits: int = 1):
    """A wide table of ``mean ± std`` strings: one row per method, one column per metric.

    ``scale`` maps a metric to a factor (default: 100 for ``accuracy``, ``agreement`` and
    ``ece``, shown as percent; 1 otherwise).
    """
    import pandas as pd
    metrics = list(metrics) if metrics is not None else list(dict.fromkeys(table["metric"]))
    pct = {"accuracy", "agreement", "ece", "test_accuracy"}
    scale = scale or {}
    cols = {}
    for metric in metrics:
        factor = scale.get(metric, 100.0 if metric in pct else 1.0)
        d = 1 if factor == 100.0 else max(digits, 3)
        cols[metric + (" (%)" if factor == 100.0 else "")] = {
            m: fmt_mean_std(v, scale=factor, digits=d) for m, v in per_seed(table, metric).items()}
    frame = pd.DataFrame(cols)
    frame.index.name = "method"
    seeds = table.groupby("method")["seed"].nunique()
    frame["seeds"] = [int(seeds[m]) for m in frame.index]
    return frame


def compare_to(table, baseline: str, metric: str = "accuracy") -> "pd.DataFrame":
    """Each method minus ``baseline`` on the same seeds: mean difference and paired-test p."""
    import pandas as pd
    values = per_seed(table, metric)
    if baseline not in values:
        raise KeyError(f"No method {baseline!r} in the table; it has {list(values)}.")
    base = values[baseline]
    rows = []
    for method, v in values.items():
        if method == baseline:
            continue
        n = min(len(v), len(base))
        test = paired_test(v[:n], base[:n])
        rows.append({"method": method, f"diff vs {baseline}": test["diff"] * (100 if metric in
                     {"accuracy", "agreement", "ece"} else 1), "p": test["p"], "seeds": n})
    return pd.DataFrame(rows).set_index("method").round(3)


def compare_pairs(frame, pairs, metric: str, by: str = "method", alpha: float = 0.05):
    """The paired test of each claimed difference, one row per pair.

    ``frame`` holds one row per run: a ``seed`` column, a ``by`` column naming the method and
    a column per metric. ``pairs`` lists ``(a, b)`` values of ``by``; each row gives the means of
    ``a`` and ``b`` on the seeds both ran, ``a − b``, the two-sided paired-test ``p`` and a
    verdict: ``"a higher"`` / ``"a lower"`` when ``p < alpha``, else ``"inside the noise"``
    (also with fewer than two seeds, where no test is possible).

    Used by lessons 07 and 08.
    """
    import pandas as pd
    missing = [c for c in ("seed", by, metric) if c not in frame.columns]
    if missing:
        raise KeyError(f"compare_pairs needs the columns {missing}; the table has {list(frame.columns)}.")
    rows = []
    for a, b in pairs:
        va = frame[frame[by] == a].groupby("seed")[metric].mean()
        vb = frame[frame[by] == b].groupby("seed")[metric].mean()
        if va.empty or vb.empty:
            raise KeyError(f"No runs of {a if va.empty else b!r} in column {by!r}.")
        seeds = sorted(set(va.index) & set(vb.index))
        test = paired_test(va.loc[seeds].to_numpy(), vb.loc[seeds].to_numpy())
        real = test["p"] == test["p"] and test["p"] < alpha       # NaN is never < alpha
        verdict = (f"{a} {'higher' if test['diff'] > 0 else 'lower'}" if real else "inside the noise")
        rows.append({"a": a, "b": b, f"{metric} a": float(va.loc[seeds].mean()),
                     f"{metric} b": float(vb.loc[seeds].mean()), "a − b": test["diff"],
                     "p": test["p"], "seeds": len(seeds), "verdict": verdict})
    return pd.DataFrame(rows)


def run_seeds(run, seeds, desc: str = "seeds", progress: bool = True) -> dict[str, list]:
    """Call ``run(seed)`` for each seed; it returns ``{metric_or_method: value}``.

    Returns ``{key: [value per seed]}``, ready for ``stats.summarize`` or
    ``plotting.plot_seed_spread``.

    Taught in lesson 02.
    """
    results: dict[str, list] = {}
    for seed in tqdm(list(seeds), desc=desc, disable=not progress, leave=False):
        for key, value in run(seed).items():
            results.setdefault(key, []).append(value)
    return results


def run_table(methods: dict, seeds, desc: str = "runs", progress: bool = True):
    """Run every method on every seed and return a *tidy* table (one row per measurement).

    ``methods`` maps a method's name to ``run(seed)``, which returns ``{metric: value}`` (or a
    single number, stored as metric ``"accuracy"``). The result is a pandas DataFrame with
    columns ``method, seed, metric, value``; ``stats.summarize_table`` turns it into mean ± std.
    Seeds are the outer loop, so every method sees seed 0 before any sees seed 1 (a run
    stopped early still holds paired results).

    Taught in lesson 03.
    """
    import pandas as pd
    if not isinstance(methods, dict) or not methods:
        raise ValueError("`methods` should be a non-empty dict {name: run(seed) -> {metric: value}}.")
    for name, run in methods.items():
        if not callable(run):
            raise TypeError(f"methods[{name!r}] should be a function run(seed), not {type(run).__name__}.")
    seeds = list(seeds)
    rows = []
    bar = tqdm(total=len(seeds) * len(methods), desc=desc, disable=not progress, leave=False)
    for seed in seeds:
        for name, run in methods.items():
            bar.set_postfix_str(f"{name}, seed {seed}")
            out = run(seed)
            if not isinstance(out, dict):
                out = {"accuracy": out}
            for metric, value in out.items():
                rows.append({"method": name, "seed": seed, "metric": metric, "value": float(value)})
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=["method", "seed", "metric", "value"])
