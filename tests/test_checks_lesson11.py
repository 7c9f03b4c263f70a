"""Lesson 11's checks accept the solution and reject the stub and realistic wrong answers."""
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binom

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.defence_study import cheapest_halving as reference_halving
from course_utils.exercises.lesson11 import q1, q2, q3
from helpers import assert_named_mistakes, assert_solution_and_stubs, outcome, status


def fingerprint_p(answers, response, false_hit_rate):
    hits = sum(response in a for a in answers)
    return binom.sf(hits - 1, len(answers), false_hit_rate)


def floored_probs(logits, temperature, floor):
    t = max(temperature, floor)
    if t == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    return torch.softmax(logits / t, dim=-1)


@pytest.mark.parametrize("q, name, right", [(q1, "fingerprint_p", fingerprint_p),
                                            (q2, "floored_probs", floored_probs)])
def test_accepts_the_solution_and_rejects_the_stub(q, name, right):
    assert_solution_and_stubs(q, name, right)


@pytest.mark.parametrize("q", [q1, q2, q3])
def test_every_named_mistake_differs_from_the_reference(q):
    assert_named_mistakes(q)


def test_no_hits_gives_p_one_and_every_hit_a_small_p():
    assert fingerprint_p(["a", "b"], "x", 0.1) == pytest.approx(1.0)
    assert fingerprint_p(["x"] * 8, "x", 0.1) == pytest.approx(1e-8)


def cheapest_halving(pareto):
    base = pareto.loc["none", "gain"]
    rows = pareto.drop(index="none")
    halved = rows[rows.gain <= base / 2]
    return halved.honest_cost.idxmin() if len(halved) else "none"


def test_q3_accepts_the_solution_and_rejects_the_stub():
    assert status(q3, cheapest_halving=cheapest_halving) == CORRECT, \
        outcome(q3, cheapest_halving=cheapest_halving)
    assert status(q3, cheapest_halving=____) == NOT_ATTEMPTED
    assert status(q3, cheapest_halving=lambda p: None) == INCORRECT
    assert status(q3, cheapest_halving=lambda p: "noise 1.0") == INCORRECT


def test_the_reference_reads_the_table_it_is_given():
    table = pd.DataFrame({"gain": [0.1, 0.09, 0.04, 0.03, 0.05],
                          "honest_cost": [0, 0.01, 0.3, np.inf, 0.2]},
                         index=["none", "round 0", "noise 1.0", "top-1 only", "floor T=1.5"])
    assert reference_halving(table) == "floor T=1.5"
    table["gain"] = [0.1, 0.09, 0.08, 0.07, 0.06]
    assert reference_halving(table) == "none"
