"""Lesson 11's checks accept the solution and reject the stub and realistic wrong answers."""
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binom

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson11 import cheapest_halving, q1, q2, q3
from helpers import outcome, status


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
    assert status(q, **{name: right}) == CORRECT, outcome(q, **{name: right})
    assert status(q, **{name: ____}) == NOT_ATTEMPTED

    def stub(*args):
        raise NotImplementedError()
    assert status(q, **{name: stub}) == NOT_ATTEMPTED
    assert status(q, **{name: lambda *a: None}) == INCORRECT


@pytest.mark.parametrize("q", [q1, q2])
def test_every_named_mistake_differs_from_the_reference(q):
    cases = q.cases()
    for wrong, message in q.mistakes:
        outputs = [wrong(*q._copy(a), **q._copy(k)) for a, k in cases]
        assert not q._matches(q.reference, cases, outputs), message
        verdict = outcome(q, **{q.var: wrong})
        assert verdict.status == INCORRECT and verdict.message == message


def test_no_hits_gives_p_one_and_every_hit_a_small_p():
    assert fingerprint_p(["a", "b"], "x", 0.1) == pytest.approx(1.0)
    assert fingerprint_p(["x"] * 8, "x", 0.1) == pytest.approx(1e-8)


def _table(gains, costs):
    return pd.DataFrame({"gain": gains, "honest_cost": costs},
                        index=["none", "round 0", "noise 1.0", "top-1 only", "floor T=1.5"])


def test_q3_reads_the_table_it_is_given():
    table = _table([0.1, 0.09, 0.04, 0.03, 0.05], [0, 0.01, 0.3, np.inf, 0.2])
    assert cheapest_halving(table) == "floor T=1.5"
    assert status(q3, cheapest="floor T=1.5", pareto=table) == CORRECT
    assert status(q3, cheapest="noise 1.0", pareto=table) == INCORRECT
    assert status(q3, cheapest=____, pareto=table) == NOT_ATTEMPTED
    # nothing halves the gain: the answer is "none", and a defence is wrong
    flat = _table([0.1, 0.09, 0.08, 0.07, 0.06], [0, 0.01, 0.3, np.inf, 0.2])
    assert status(q3, cheapest="none", pareto=flat) == CORRECT
    assert "does not halve" in outcome(q3, cheapest="top-1 only", pareto=flat).message
