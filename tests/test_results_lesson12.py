"""Results test of lesson 12: the lesson's rule (Fisher's combined p < 0.01 over the log,
radioactivity and identity tests) flags every distilled mystery suspect and clears every clean
one, and flags at most one clean suspect in twenty.

Marked slow, it runs at the current profile's size (`cpu` in `make test-slow`) and shares the
notebook's cache (provider, harvests, traffic, students), so after the notebook it only reads.
"""
import pytest

from course_utils import dossier as D
from course_utils.config import size

ALPHA = 0.01   # the lesson's rule


@pytest.fixture(scope="module")
def judged():
    S = size("dossier")
    P = D.provider(S, progress=False)
    suspects = D.mystery(S)
    clean = D.clean_suspects(S.clean_students)
    table = D.decide(D.evidence(P, suspects + clean, progress=False), ALPHA)
    return table.loc[[n for n, _, _ in suspects]], table.loc[[n for n, _, _ in clean]]


@pytest.mark.slow
def test_the_rule_flags_every_distilled_suspect_and_clears_every_clean_one(judged):
    mystery, _ = judged
    distilled = mystery["kind"].isin(D.DISTILLED)
    assert distilled.any() and (~distilled).any()
    assert mystery.loc[distilled, "flagged"].all(), mystery.loc[distilled, ["p_fisher", "kind"]]
    assert not mystery.loc[~distilled, "flagged"].any(), mystery.loc[~distilled, ["p_fisher", "kind"]]


@pytest.mark.slow
def test_the_rule_keeps_its_false_positive_rate(judged):
    _, clean = judged
    assert len(clean) >= 20
    assert D.false_positive_rate(clean["p_fisher"], ALPHA) <= 0.05, clean["p_fisher"]
