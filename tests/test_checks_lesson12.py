"""Lesson 12's checks accept the solution and reject the stub and realistic wrong answers."""
import math

import pytest

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson12 import q1, q2, q3
from course_utils.sources import TOS_CASES, VERDICTS
from helpers import assert_named_mistakes, outcome, status


def fisher_combine(pvalues):
    from scipy.stats import chi2
    return chi2.sf(-2 * sum(math.log(p) for p in pvalues), 2 * len(pvalues))


def false_positive_rate(clean_pvalues, alpha):
    return sum(p < alpha for p in clean_pvalues) / len(clean_pvalues)


@pytest.mark.parametrize("q, name, right", [(q1, "fisher_combine", fisher_combine),
                                            (q2, "false_positive_rate", false_positive_rate)])
def test_accepts_the_solution_and_rejects_the_stub(q, name, right):
    assert status(q, **{name: right}) == CORRECT, outcome(q, **{name: right})
    assert status(q, **{name: ____}) == NOT_ATTEMPTED

    def stub(*args, **kwargs):
        raise NotImplementedError()
    assert status(q, **{name: stub}) == NOT_ATTEMPTED
    assert status(q, **{name: lambda *a, **k: None}) == INCORRECT


@pytest.mark.parametrize("q", [q1, q2])
def test_every_named_mistake_differs_from_the_reference(q):
    assert_named_mistakes(q)


def test_fisher_reference_is_the_chi_squared_tail():
    from scipy.stats import combine_pvalues
    for p in ([0.04, 0.2, 0.5], [1e-6, 0.9], [0.3]):
        assert math.isclose(q1.reference(p), combine_pvalues(p, method="fisher").pvalue,
                            rel_tol=1e-9)


def test_tos_cases_are_many_and_balanced():
    assert len(TOS_CASES) >= 12
    assert len({c["id"] for c in TOS_CASES}) == len(TOS_CASES)
    assert {c["verdict"] for c in TOS_CASES} == set(VERDICTS)
    from course_utils.sources import SOURCES
    for c in TOS_CASES:
        assert c["why"] and all(s in SOURCES for s in c["sources"]), c["id"]


def test_tos_verdicts_accepted_and_each_wrong_case_explained():
    right = {c["id"]: c["verdict"] for c in TOS_CASES}
    assert status(q3, verdicts=right) == CORRECT
    assert status(q3, verdicts=____) == NOT_ATTEMPTED
    for case in TOS_CASES:
        for other in VERDICTS:
            if other == case["verdict"]:
                continue
            out = outcome(q3, verdicts={**right, case["id"]: other})
            assert out.status == INCORRECT and case["why"] in out.message, (case["id"], other)
            assert f"`{case['id']}`" in out.message
