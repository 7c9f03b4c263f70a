"""The course's prose renders as written: no amount of money typeset as mathematics.

JupyterLab, GitHub and Colab render `$...$` in Markdown as a formula, so "$5.576M at $2 per
hour" would come out as an italic formula. Money is written `\\$5`; `$` stays for maths.
"""
import nbformat
import pytest

from course_utils.build import escape_money, unescaped_money
from helpers import LESSONS, ROOT, SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(LESSONS.glob("*.ipynb"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_unescaped_money_in_markdown_cells(path):
    nb = nbformat.read(path, as_version=4)
    found = [(i, unescaped_money(c.source)) for i, c in enumerate(nb.cells)
             if c.cell_type == "markdown" and unescaped_money(c.source)]
    assert not found, (f"{path.name}: write money as \\$ (cell index, amounts): {found}; "
                       "then run `course build`")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_unescaped_money_in_docs(path):
    assert not unescaped_money(path.read_text(encoding="utf-8")), path.name


@pytest.mark.parametrize("text, amounts", [
    ("$5.576M at $2 per GPU-hour", ["$5.576M", "$2"]),
    ("**$0.0025 per 1K prompt tokens and $0.01 per 1K**", ["$0.0025", "$0.01"]),
    ("GPT-4o $2.50 in / $10 out; o1 $15 in / $60 out).", ["$2.50", "$10", "$15", "$60"]),
    ("under $500.", ["$500"]),
    ("costs $1,000,000, or $5bn", ["$1,000,000", "$5bn"]),
    ("($0.04/$0.08/$0.16 at list prices)", ["$0.04", "$0.08", "$0.16"]),
    ("logits $z_1, \\dots, z_N$, with $T = 1$ or $T > 0$", []),
    ("the dashed line is $1/N$, and $10^{-6}$ and $2T$ and $2$", []),
    ("$$p_i(T) = \\frac{1}{2}$$ and $2 + x$", []),
    ("already escaped: \\$5.576M at \\$2", []),
    ("in code: `cost = f'$5'` and ```\n$2 per\n```", []),
])
def test_money_detector(text, amounts):
    assert unescaped_money(text) == amounts
    assert unescaped_money(escape_money(text)) == []
    if not amounts:
        assert escape_money(text) == text
