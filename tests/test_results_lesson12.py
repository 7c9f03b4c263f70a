"""Results test of lesson 12: the lesson's rule (Fisher's combined p < 0.01 over the log,
radioactivity and identity tests) flags every distilled mystery suspect and clears every clean
one.

Marked slow, it runs at the current profile's size (`ci` in `make test`, `cpu` in
`make test-slow`). It judges the mystery suspects only (the rule's false-positive rate over 20
clean suspects is `tests/test_dossier.py`'s, at `ci`), so that a cold `cpu` run builds the
provider (about 3 minutes on 2 cores) and 19 small students (about 2), not the notebook's 39;
the provider and the students are shared with the notebook's cache.
"""
import pytest

from course_utils import dossier as D
from course_utils.config import size

ALPHA = 0.01   # the lesson's rule


@pytest.fixture(scope="module")
def mystery():
    S = size("dossier")
    P = D.provider(S, progress=False)
    return D.decide(D.evidence(P, D.mystery(S), progress=False), ALPHA)


@pytest.mark.slow
def test_the_rule_flags_every_distilled_suspect_and_clears_every_clean_one(mystery):
    distilled = mystery["kind"].isin(D.DISTILLED)
    assert distilled.any() and (~distilled).any()
    assert mystery.loc[distilled, "flagged"].all(), mystery.loc[distilled, ["p_fisher", "kind"]]
    assert not mystery.loc[~distilled, "flagged"].any(), mystery.loc[~distilled, ["p_fisher", "kind"]]


@pytest.mark.slow
def test_bonferroni_agrees_here(mystery):
    """With the identity test as strong as it is, the assumption-free rule reaches the same
    verdicts (the lesson says so)."""
    bonf = D.decide(mystery.drop(columns=["flagged"]), ALPHA, "bonferroni")
    assert (bonf["flagged"] == mystery["kind"].isin(D.DISTILLED)).all(), bonf["p_bonferroni"]
