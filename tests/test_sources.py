"""Lesson 12's sources: every quotation in the notebook has an entry in the registry (and is
a part of a quotation registered there), every citation names a registered source, and every
source has a date and an address."""
import re

import nbformat
import pytest

from course_utils.sources import (SOURCES, TOS_CASES, check_notebook, check_text, citations,
                                  normalise, quotations)
from helpers import LESSONS, SOLUTIONS

NOTEBOOKS = [SOLUTIONS / "12_law_ethics_policy.ipynb", LESSONS / "12_law_ethics_policy.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_quotation_in_the_notebook_has_a_source_entry(path):
    nb = nbformat.read(path, as_version=4)
    assert check_notebook(nb) == []
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(quotations(text)) >= 20
    cited = set(citations(text))
    assert cited <= set(SOURCES)
    assert len(cited) >= 12


def test_the_notebook_says_it_is_not_legal_advice():
    nb = nbformat.read(SOLUTIONS / "12_law_ethics_policy.ipynb", as_version=4)
    text = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "not legal advice" in text and "change over time" in text


def test_every_source_is_complete():
    for sid, s in SOURCES.items():
        assert sid == s.id and s.title and s.who and s.url.startswith("http"), sid
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", s.date), (sid, s.date)
        for q in s.quotes:
            assert q == q.strip() and len(q.split()) <= 60, (sid, q)   # short quotations
    for case in TOS_CASES:
        assert set(case["sources"]) <= set(SOURCES)


def test_the_checker_catches_what_it_should():
    good = "As “Use Output to develop models that compete with OpenAI” [src:openai-terms-2024]."
    assert check_text(good) == []
    # curly apostrophes and line breaks do not matter; a part of a quotation is fine
    assert check_text("“whose terms of use\nprohibit developing models” [src:alpaca-2023]") == []
    assert normalise("OpenAI’s  text") == "OpenAI's text"
    problems = check_text("“Use Output to develop models” and “words nobody wrote” "
                          "[src:openai-terms-2024] and [src:no-such-source] and "
                          "“Use Output” [src:no-such-source]")
    assert any("without a source" in p for p in problems)
    assert any("not registered" in p for p in problems)
    assert sum("unknown source" in p for p in problems) >= 2
