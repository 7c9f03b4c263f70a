"""Lesson 12's dossier: mystery students regenerated deterministically from (kind, seed), the
tests' p-values valid on clean students (the rule keeps its stated false-positive rate over at
least 20 clean students), Fisher and Bonferroni as stated."""
import math

import numpy as np
import pytest

from course_utils import dossier as D
from course_utils.config import size


def test_fisher_matches_scipy_and_bonferroni_is_k_min_p():
    from scipy.stats import combine_pvalues
    for p in ([0.04, 0.2, 0.5], [1e-8, 0.99], [0.3], [0.05] * 5):
        assert math.isclose(D.fisher_combine(p), combine_pvalues(p, method="fisher").pvalue,
                            rel_tol=1e-9)
    assert D.bonferroni_combine([0.01, 0.5, 0.2]) == pytest.approx(0.03)
    assert D.bonferroni_combine([0.5, 0.6]) == 1.0
    assert D.fisher_combine([0.0, 0.5]) == 0.0
    with pytest.raises(ValueError):
        D.fisher_combine([])
    with pytest.raises(ValueError):
        D.fisher_combine([1.5])


def test_fisher_is_uniform_under_independent_nulls():
    rng = np.random.default_rng(0)
    combined = np.array([D.fisher_combine(rng.random(3)) for _ in range(4000)])
    for a in (0.01, 0.05, 0.2, 0.5):
        assert abs(np.mean(combined < a) - a) < 3 * math.sqrt(a * (1 - a) / 4000) + 0.002


def test_false_positive_rate_counts_strictly_below_alpha():
    assert D.false_positive_rate([0.01, 0.009, 0.5, 0.2], 0.01) == 0.25
    with pytest.raises(ValueError):
        D.false_positive_rate([], 0.01)


def test_mystery_is_a_fixed_shuffle_of_the_mix():
    S = size("dossier")
    a, b = D.mystery(S), D.mystery(S)
    assert a == b
    kinds = [k for _, k, _ in a]
    assert sorted(kinds) == sorted(k for k, n in zip(D.KINDS, S.mix) for _ in range(n))
    assert len({name for name, _, _ in a}) == len(a)
    clean = D.clean_suspects(S.clean_students)
    assert {k for _, k, _ in clean} == {"human"}
    assert not {s for _, _, s in clean} & {s for _, _, s in a}


@pytest.fixture(scope="module")
def provider():
    return D.provider(progress=False)


def _weights(model):
    return [p.detach().clone() for p in model.state_dict().values()]


@pytest.mark.parametrize("kind", D.KINDS)
def test_a_student_is_regenerated_from_kind_and_seed(provider, kind):
    rows_a = D.student_rows(provider, kind, 7)
    assert rows_a == D.student_rows(provider, kind, 7)
    assert rows_a != D.student_rows(provider, kind, 8)
    first = _weights(D.student(provider, kind, 7, retrain=True))
    again = _weights(D.student(provider, kind, 7, retrain=True))
    assert all(torch_equal(x, y) for x, y in zip(first, again))


def torch_equal(a, b):
    import torch
    return torch.equal(a, b)


def test_the_rule_keeps_its_false_positive_rate_on_clean_students(provider):
    """The lesson's stated rule (Fisher p < 0.01) flags at most one clean suspect in twenty, and
    no single test's p-values pile up below 0.01 on clean suspects."""
    S = size("dossier")
    assert S.clean_students >= 20
    clean = D.clean_suspects(S.clean_students)
    # the notebook's suspects (so the notebook's cached evidence is read), the clean ones kept
    table = D.evidence(provider, D.mystery(S) + clean, progress=False)
    table = table.loc[[name for name, _, _ in clean]]
    judged = D.decide(table, 0.01)
    assert D.false_positive_rate(judged["p_fisher"], 0.01) <= 0.05, judged["p_fisher"]
    assert D.false_positive_rate(D.decide(table, 0.01, "bonferroni")["p_bonferroni"],
                                 0.01) <= 0.05
    for t in D.TESTS:
        assert D.false_positive_rate(table[f"p_{t}"], 0.01) <= 0.05, (t, table[f"p_{t}"])
    assert table["p_log"].between(0, 1).all() and table["p_radio"].between(0, 1).all()
