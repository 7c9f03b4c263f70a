"""course_utils.widgets: every knob draws once on creation and again when turned, cheaply."""
import time

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_utils import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_knobs_draw_once_then_on_every_turn():
    calls = []
    k = widgets.knobs(lambda T, kind, x: calls.append((T, kind, x)),
                      T=[1.0, 4.0, 8.0], kind=["forward", "reverse"], x=(0.0, 1.0, 0.5))
    assert calls == [(1.0, "forward", 0.0)] and k.draws == 1
    k.set(T=4.0)
    k.set(kind="reverse")
    assert calls[-1] == (4.0, "reverse", 0.0) and k.draws == 3
    assert k.values == {"T": 4.0, "kind": "reverse", "x": 0.0}
    import ipywidgets
    assert isinstance(k.controls["T"], ipywidgets.SelectionSlider)
    assert isinstance(k.controls["kind"], ipywidgets.ToggleButtons)
    assert isinstance(k.controls["x"], ipywidgets.FloatSlider)
    assert not k.controls["T"].continuous_update      # redraw on release, not on every pixel


def _timed_turns(k, **values):
    start = time.perf_counter()
    before = k.draws
    k.set(**values)
    assert k.draws == before + len(values)
    return time.perf_counter() - start


def test_kd_sweep_explorer():
    temps, alphas = [1.0, 4.0], [0.5, 1.0]
    students = {(t, a): torch.nn.Linear(40, 10) for t in temps for a in alphas}
    k = widgets.kd_sweep_explorer(np.arange(4.0).reshape(2, 2), temps, alphas, students,
                                  torch.randn(10), torch.randn(40), classes=list("0123456789"))
    assert k.draws == 1
    assert _timed_turns(k, T=4.0, alpha=1.0) < 5


def test_sampling_explorer_shows_the_nucleus():
    k = widgets.sampling_explorer(torch.randn(300), top=10)
    assert k.draws == 1 and k.values == {"temperature": 1.0, "top_p": 0.9}
    assert _timed_turns(k, temperature=2.0, top_p=0.5) < 5
    title = plt.gcf().axes[0].get_title()
    assert "T = 2" in title and "top-p = 0.5" in title and "of 300 tokens" in title


def test_kl_toy_explorer_fits_live():
    k = widgets.kl_toy_explorer(steps=40)
    assert _timed_turns(k, divergence="reverse", start=-4.0) < 5
    assert "reverse" in plt.gcf().axes[0].get_title()


def test_budget_explorer():
    costs = np.full(20, 0.001)
    results = pd.DataFrame(dict(student=["text only", "text only", "+ top-k logprobs"],
                                usd=[0.01, 0.02, 0.01], perplexity=[50.0, 40.0, 45.0]))
    k = widgets.budget_explorer(costs, np.full(20, 24), results)
    budgets = [v for _, v in k.controls["budget_usd"].options]
    assert budgets[-1] == pytest.approx(0.02)
    assert k.values["budget_usd"] == budgets[-1]        # starts at the whole harvest
    k.set(budget_usd=budgets[0])
    title = plt.gcf().axes[0].get_title()
    assert "buys 1 completions" in title or "buys 2 completions" in title


@pytest.mark.parametrize("lesson, control", [
    ("01", "temperature_slider("), ("02", "kd_sweep_explorer("), ("05", "sampling_explorer("),
    ("06", "kl_toy_explorer("), ("07", "budget_explorer("),
])
def test_each_lesson_has_its_knob(lesson, control):
    import nbformat
    from helpers import LESSONS
    path = next(LESSONS.glob(f"{lesson}_*.ipynb"))
    cells = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and control in c.source]
    assert len(cells) == 1 and "exercise" not in cells[0].metadata.get("tags", []), path.name
