"""Plots the lessons use (01-08): learning curves, soft targets, heat maps, seed spreads, reliability
diagrams."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def plot_history(histories, ax=None, metric: str = "test_accuracy"):
    """Test accuracy (or ``metric``) per epoch for one History or a list of them."""
    histories = histories if isinstance(histories, (list, tuple)) else [histories]
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for h in histories:
        values = np.asarray(getattr(h, metric)) * (100 if metric == "test_accuracy" else 1)
        ax.plot(h.epoch, values, label=h.label or None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)" if metric == "test_accuracy" else metric.replace("_", " "))
    if any(h.label for h in histories):
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_soft_targets(probs, classes=None, labels=None, ax=None, title: str = "", log: bool = False):
    """Bar chart of one or several probability vectors side by side (e.g. several T).

    ``log=True`` uses a logarithmic probability axis, which shows the tiny probabilities of
    the wrong classes (1e-9 next to 1e-3) that a linear axis draws as nothing.
    """
    probs = torch.as_tensor(probs, dtype=torch.float32)
    probs = probs[None] if probs.dim() == 1 else probs
    k, n = probs.shape
    classes = classes or [str(i) for i in range(n)]
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    width = 0.8 / k
    for i, p in enumerate(probs):
        ax.bar(np.arange(n) + (i - (k - 1) / 2) * width, p.numpy(), width,
               label=labels[i] if labels else None)
    ax.set_xticks(np.arange(n), classes)
    ax.set_ylabel("probability" + (" (log scale)" if log else ""))
    if log:
        positive = probs[probs > 0]
        floor = float(positive.min()) if len(positive) else 1e-12
        ax.set_yscale("log")
        ax.set_ylim(max(floor / 3, 1e-30), 1.5)
    else:
        ax.set_ylim(0, 1)
    if title:
        ax.set_title(title)
    if labels:
        ax.legend(fontsize=8)
    return ax


def plot_temperature_curves(logits, classes=None, temperatures=None, ax=None, title: str = ""):
    """Each class's probability in ``softmax(logits / T)`` as T varies (log-scaled T axis).

    The argmax class is drawn thick. At T -> 0 it takes everything; as T grows every curve
    tends to ``1 / num_classes`` (dashed line).
    """
    logits = torch.as_tensor(logits, dtype=torch.float32).reshape(-1)
    n = logits.shape[0]
    classes = classes or [str(i) for i in range(n)]
    temperatures = torch.as_tensor(np.geomspace(0.25, 50, 120) if temperatures is None else temperatures,
                                   dtype=torch.float32)
    if (temperatures <= 0).any():
        raise ValueError("Temperatures must be positive.")
    probs = torch.softmax(logits[None] / temperatures[:, None], dim=-1).numpy()
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    top = int(logits.argmax())
    for c in range(n):
        ax.plot(temperatures.numpy(), probs[:, c], lw=2.5 if c == top else 1.2,
                label=classes[c])
    ax.axhline(1 / n, color="grey", ls="--", lw=1)
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("temperature T (log scale)")
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, ncol=2, title="class", title_fontsize=7)
    if title:
        ax.set_title(title)
    return ax


def plot_seed_spread(results: dict, ax=None, ylabel: str = "test accuracy (%)", scale: float = 100.0):
    """One dot per seed and a bar for the mean +/- std, for each method."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    for i, (method, values) in enumerate(results.items()):
        v = np.asarray(values, dtype=float) * scale
        jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else np.zeros(1)
        ax.scatter(i + jitter, v, alpha=0.7, zorder=3)
        ax.errorbar(i, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, fmt="_", color="black",
                    markersize=30, capsize=6, zorder=4)
    ax.set_xticks(range(len(results)), list(results))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    return ax


def plot_heatmap(values, row_labels, col_labels, ax=None, title: str = "", fmt: str = "{:.1f}",
                 xlabel: str = "", ylabel: str = ""):
    """A small annotated heat map (e.g. accuracy over a T x alpha sweep)."""
    values = np.asarray(values, dtype=float)
    ax = ax or plt.subplots(figsize=(1.2 * len(col_labels) + 2, 0.6 * len(row_labels) + 1.5))[1]
    im = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(col_labels)), col_labels)
    ax.set_yticks(range(len(row_labels)), row_labels)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", color="white", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax


def temperature_slider(logits, classes=None, T_max: float = 20.0):
    """An ipywidgets slider over T that redraws ``softmax(logits / T)`` as bars."""
    import ipywidgets as widgets
    from IPython.display import display

    logits = torch.as_tensor(logits, dtype=torch.float32)
    out = widgets.Output()

    def draw(T):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3))
            plot_soft_targets(torch.softmax(logits / T, -1), classes, ax=ax,
                              title=f"softmax(logits / T) at T = {T:.1f}")
            plt.show()

    slider = widgets.FloatSlider(value=1.0, min=0.5, max=T_max, step=0.5, description="T",
                                 continuous_update=False)
    slider.observe(lambda change: draw(change["new"]), names="value")
    draw(slider.value)
    display(widgets.VBox([slider, out]))
    return slider


def plot_reliability(bins_by_model: dict, ax=None, title: str = "reliability diagram"):
    """Reliability diagram: accuracy against confidence per bin, one line per model.

    ``bins_by_model`` maps a label to the dict ``metrics.reliability_data`` returns. The
    diagonal is perfect calibration; points below it are over-confident.
    """
    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="perfectly calibrated")
    for label, bins in bins_by_model.items():
        conf = np.asarray(bins["confidence"], dtype=float)
        acc = np.asarray(bins["accuracy"], dtype=float)
        count = np.asarray(bins["count"], dtype=float)
        keep = count > 0
        sizes = 15 + 150 * count[keep] / max(count.sum(), 1)
        line, = ax.plot(conf[keep], acc[keep], marker="", label=label)
        ax.scatter(conf[keep], acc[keep], s=sizes, color=line.get_color(), alpha=0.7, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (mean max-probability in bin)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def plot_table_bars(table, metric: str = "accuracy", ax=None, scale: float = 100.0,
                    ylabel: str | None = None, baseline: str | None = None):
    """Mean ± std bars (and one dot per seed) of one metric of a tidy ``run_table`` table."""
    from .stats import per_seed
    values = per_seed(table, metric)
    ax = ax or plt.subplots(figsize=(1.1 * len(values) + 2, 3.5))[1]
    for i, (method, v) in enumerate(values.items()):
        v = np.asarray(v, dtype=float) * scale
        ax.bar(i, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, capsize=5, alpha=0.6)
        ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, color="black", s=12, zorder=3)
    if baseline is not None and baseline in values:
        ax.axhline(np.mean(values[baseline]) * scale, ls="--", color="gray", lw=1)
    ax.set_xticks(range(len(values)), list(values), rotation=20, ha="right")
    lo = min(min(v) for v in values.values()) * scale
    hi = max(max(v) for v in values.values()) * scale
    ax.set_ylim(max(0, lo - 0.15 * (hi - lo + 1) - 2), hi + 0.15 * (hi - lo + 1) + 1)
    ax.set_ylabel(ylabel or (metric + (" (%)" if scale == 100.0 else "")))
    ax.grid(alpha=0.3, axis="y")
    return ax
