"""Multi-seed summaries: mean +/- std tables and significance tests."""
from __future__ import annotations

import numpy as np


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
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
