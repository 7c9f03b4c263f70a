"""Knobs: small ipywidgets controls that redraw a figure when turned (lessons 01, 02, 05-07).

``knobs(draw, T=[1, 2, 4], ...)`` is the one way a lesson makes a control: it builds the
controls, calls ``draw(**values)`` once straight away (so the figure is there when the
notebook runs headless, in the tests or on nbviewer) and again each time a control is
released. Each redraw must be cheap: whatever needs training is computed before, in the
lesson, and the knob only picks from it. The lesson-specific explorers below keep the
notebooks thin:

* ``kd_sweep_explorer``  -- T and α over the students of lesson 02's sweep (lesson 02)
* ``sampling_explorer``  -- temperature and top-p on one next-token distribution (lesson 05)
* ``kl_toy_explorer``    -- the KL direction (and β, start) on the two-peaked toy (lesson 06)
* ``budget_explorer``    -- what a budget buys through the API, and what it taught (lesson 07)

Works with ipywidgets 7 (Colab's) and 8.
"""
from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch


def _control(name: str, spec, default=None):
    """An ipywidgets control from ``spec``: a widget as is; a list of numbers becomes a
    selection slider, a list of words toggle buttons; a (min, max, step) tuple a float slider."""
    import ipywidgets as widgets
    if isinstance(spec, widgets.Widget):
        return spec
    if isinstance(spec, tuple) and len(spec) == 3:
        low, high, step = spec
        return widgets.FloatSlider(value=low if default is None else default, min=low, max=high,
                                   step=step, description=name,
                                   continuous_update=False)
    options = list(spec)
    if not options:
        raise ValueError(f"knob {name!r} has no options")
    value = options[0] if default is None else default
    if all(isinstance(o, (int, float, np.number)) and not isinstance(o, bool) for o in options):
        return widgets.SelectionSlider(options=[(f"{o:g}", o) for o in options], value=value,
                                       description=name, continuous_update=False)
    return widgets.ToggleButtons(options=options, value=value, description=name)


class Knobs:
    """Controls and the figure they redraw. ``set(name=value)`` turns a knob from code (tests)."""

    def __init__(self, draw: Callable, controls: dict, defaults: dict | None = None):
        import ipywidgets as widgets
        self.draw = draw
        defaults = defaults or {}
        self.controls = {name: _control(name, spec, defaults.get(name))
                         for name, spec in controls.items()}
        self.draws = 0

        def redraw(**values):
            self.draws += 1
            draw(**values)
            plt.show()

        # `interactive` runs `redraw` once now and on every change, inside its Output widget.
        self.widget = widgets.interactive(redraw, **self.controls)

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> None:
        for name, value in values.items():
            self.controls[name].value = value

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def knobs(draw: Callable, defaults: dict | None = None, **controls) -> Knobs:
    """Controls that redraw ``draw(**values)``: once now, then whenever a control is released.

    ``controls`` maps each argument of ``draw`` to a widget, a list of options or a
    ``(min, max, step)`` tuple; ``defaults`` the starting values (else the first option).
    Put the result last in a cell to show it.

    >>> k = knobs(lambda T: plt.plot([T]), T=[1.0, 4.0])   # doctest: +SKIP
    """
    return Knobs(draw, controls, defaults)


# ---------------------------------------------------------------------------------------
# Lesson 02: T and α on the sweep's students
# ---------------------------------------------------------------------------------------
def kd_sweep_explorer(grid, temperatures, alphas, students: dict, teacher_logits, x,
                      classes=None) -> Knobs:
    """Pick T and α in lesson 02's sweep: where that student sits on the accuracy map, and on
    one test signal the teacher's soft target at that T beside the student's own output.

    ``students[(T, alpha)]`` is the trained student of each cell; ``teacher_logits`` and ``x``
    one test example's teacher logits and input. Taught in lesson 02.
    """
    from .plotting import plot_heatmap, plot_soft_targets
    grid = np.asarray(grid, dtype=float)
    x = torch.as_tensor(x, dtype=torch.float32)[None] if torch.as_tensor(x).dim() == 1 else x
    with torch.no_grad():
        outputs = {key: s.eval()(x)[0].float() for key, s in students.items()}
    teacher_logits = torch.as_tensor(teacher_logits, dtype=torch.float32).reshape(-1)

    def draw(T, alpha):
        i, j = list(temperatures).index(T), list(alphas).index(alpha)
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4),
                                          gridspec_kw={"width_ratios": [1, 1.6]})
        plot_heatmap(grid, [f"T={t:g}" for t in temperatures], [f"α={a:g}" for a in alphas],
                     ax=left, title="test accuracy (%)")
        left.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=3, color="red"))
        probs = torch.stack([torch.softmax(teacher_logits / T, -1),
                             torch.softmax(outputs[(T, alpha)] / T, -1)])
        plot_soft_targets(probs, classes, labels=[f"teacher at T={T:g} (the target)",
                                                  f"student (T={T:g}, α={alpha:g}) at T={T:g}"],
                          ax=right, title=f"one test signal; this student: {grid[i, j]:.1f}% "
                                          f"test accuracy")
        plt.tight_layout()

    return knobs(draw, T=list(temperatures), alpha=list(alphas))


# ---------------------------------------------------------------------------------------
# Lesson 05: temperature and top-p on one next-token distribution
# ---------------------------------------------------------------------------------------
def sampling_explorer(logits, tokenizer=None, top: int = 25,
                      temperatures=(0.25, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0),
                      top_ps=(0.5, 0.8, 0.9, 0.95, 1.0)) -> Knobs:
    """Temperature and top-p on one next-token distribution (no model call per redraw): the
    ``top`` most likely tokens, what sampling draws from (kept tokens coloured, cut ones grey),
    how many tokens the nucleus keeps and the entropy. Taught in lesson 05.
    """
    from .lm import nucleus_probs
    logits = torch.as_tensor(logits, dtype=torch.float32).reshape(-1)
    order = logits.argsort(descending=True)[:top]
    labels = [repr(tokenizer.decode([int(t)])) if tokenizer is not None else str(int(t))
              for t in order]

    def draw(temperature, top_p):
        before = torch.softmax(logits / temperature, -1)
        after = nucleus_probs(logits, temperature=temperature, top_p=top_p)
        kept = int((after > 0).sum())
        entropy = float(-(after[after > 0] * after[after > 0].log()).sum())
        fig, ax = plt.subplots(figsize=(11, 3.2))
        xs = np.arange(len(order))
        ax.bar(xs, before[order].numpy(), color="lightgrey", label="softmax(z / T)")
        ax.bar(xs, after[order].numpy(), width=0.5,
               color=["tab:blue" if after[t] > 0 else "none" for t in order],
               label=f"what sampling draws from (top-p = {top_p:g})")
        ax.set_xticks(xs, labels, rotation=60, fontsize=8)
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.set_title(f"T = {temperature:g}, top-p = {top_p:g}: the nucleus keeps {kept} of "
                     f"{len(logits)} tokens; entropy {entropy:.2f} nats")
        ax.legend(fontsize=8)
        plt.tight_layout()

    return knobs(draw, defaults=dict(temperature=1.0 if 1.0 in temperatures else None,
                                     top_p=0.9 if 0.9 in top_ps else None),
                 temperature=list(temperatures), top_p=list(top_ps))


# ---------------------------------------------------------------------------------------
# Lesson 06: the direction of the KL on the two-peaked toy
# ---------------------------------------------------------------------------------------
def kl_toy_explorer(steps: int = 150, lr: float = 0.05, starts=(-4.0, -1.5, 0.0, 1.5, 4.0),
                    betas=(0.1, 0.5, 0.9)) -> Knobs:
    """Fit the toy's Gaussian student live with the chosen divergence, start and (for JSD) β.
    A fit is a few hundred steps on two numbers: a fraction of a second. Taught in lesson 06.
    """
    from .kl_toy import fit_gaussian, plot_fits

    def draw(divergence, start, beta):
        fit = fit_gaussian(divergence, steps=steps, lr=lr, init_mu=start, beta=beta)
        fig, ax = plt.subplots(figsize=(7, 3.2))
        plot_fits([fit], ax_row=[ax])
        extra = f", β = {beta:g}" if divergence == "jsd" else " (β is only used by JSD)"
        ax.set_title(f"{divergence}: from {start:+g}, ends at mean {fit['mu']:+.2f}, "
                     f"width {fit['sigma']:.2f}{extra}", fontsize=9)
        plt.tight_layout()

    return knobs(draw, defaults=dict(start=1.5 if 1.5 in starts else None,
                                     beta=0.5 if 0.5 in betas else None),
                 divergence=["forward", "reverse", "jsd"], start=list(starts), beta=list(betas))


# ---------------------------------------------------------------------------------------
# Lesson 07: what a budget buys
# ---------------------------------------------------------------------------------------
def budget_explorer(costs, completion_tokens, results=None, points: int = 12) -> Knobs:
    """A budget in dollars: how many completions and tokens it buys from the harvest (its
    cumulative bill), and where the students trained on 1×, 2×, 4×… the unit budget stand.

    ``costs`` and ``completion_tokens`` are the harvest's columns in the order bought;
    ``results`` the lesson's table with columns ``student``, ``usd``, ``perplexity``.
    Taught in lesson 07.
    """
    costs = np.asarray(costs, dtype=float)
    tokens = np.asarray(completion_tokens, dtype=float)
    spent, bought_tokens = np.cumsum(costs), np.cumsum(tokens)
    total = float(spent[-1]) if len(spent) else 0.0
    budgets = sorted({float(f"{b:.3g}") for b in np.linspace(total / points, total, points)}) \
        if total > 0 else [0.0]

    def draw(budget_usd):
        n = int(np.searchsorted(spent, budget_usd + 1e-12, side="right"))
        fig, axes = plt.subplots(1, 2 if results is not None else 1, figsize=(11, 3.2))
        axes = np.atleast_1d(axes)
        ax = axes[0]
        ax.plot(spent, bought_tokens, color="tab:blue")
        ax.axvline(budget_usd, color="red", ls="--")
        ax.set_xlabel("dollars spent")
        ax.set_ylabel("completion tokens bought")
        ax.set_title(f"\\${budget_usd:.4g} buys {n} completions, "
                     f"{int(bought_tokens[n - 1]) if n else 0:,} tokens", fontsize=10)
        if results is not None:
            ax = axes[1]
            for label, marker in [("text only", "o"), ("+ top-k logprobs", "s")]:
                sub = results[results.student == label].groupby("usd")["perplexity"].mean()
                if len(sub):
                    ax.plot(sub.index, sub.values, marker=marker, label=label)
            ax.axvline(budget_usd, color="red", ls="--")
            ax.set_xlabel("dollars spent")
            ax.set_ylabel("held-out perplexity")
            ax.set_title("students trained at the measured budgets", fontsize=10)
            ax.legend(fontsize=8)
        plt.tight_layout()

    return knobs(draw, defaults=dict(budget_usd=budgets[-1]), budget_usd=budgets)
