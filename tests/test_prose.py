"""The course's prose renders as written: no amount of money typeset as mathematics.

JupyterLab, GitHub and Colab render `$...$` in Markdown as a formula, so "$5.576M at $2 per
hour" comes out as an italic formula -- and JupyterLab 4 does it even to `\\$5.576M at \\$2`
(tests/test_browser.py shows it). Money is written in words ("5.576 million US dollars");
`$` stays for mathematics.
"""
import nbformat
import pytest

from course_utils.build import money_as_math
from helpers import LESSONS, ROOT, SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(LESSONS.glob("*.ipynb"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_money_written_with_dollar_signs_in_markdown_cells(path):
    nb = nbformat.read(path, as_version=4)
    found = [(i, money_as_math(c.source)) for i, c in enumerate(nb.cells)
             if c.cell_type == "markdown" and money_as_math(c.source)]
    assert not found, (f"{path.name}: write money in words, e.g. '5.576 million US dollars' "
                       f"(cell index, amounts): {found}; then run `course build`")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_money_written_with_dollar_signs_in_docs(path):
    assert not money_as_math(path.read_text(encoding="utf-8")), path.name


@pytest.mark.parametrize("text, amounts", [
    ("$5.576M at $2 per GPU-hour", ["$5.576M", "$2"]),
    ("\\$5.576M at \\$2 per GPU-hour", ["\\$5.576M", "\\$2"]),   # JupyterLab 4 typesets these too
    ("**$0.0025 per 1K prompt tokens and $0.01 per 1K**", ["$0.0025", "$0.01"]),
    ("GPT-4o $2.50 in / $10 out; o1 $15 in / $60 out).", ["$2.50", "$10", "$15", "$60"]),
    ("under $500.", ["$500"]),
    ("costs $1,000,000, or $5bn", ["$1,000,000", "$5bn"]),
    ("($0.04/$0.08/$0.16 at list prices)", ["$0.04", "$0.08", "$0.16"]),
    ("5.576 million US dollars at 2 dollars per GPU-hour", []),
    ("logits $z_1, \\dots, z_N$, with $T = 1$ or $T > 0$", []),
    ("the dashed line is $1/N$, and $10^{-6}$ and $2T$ and $2$", []),
    ("$$p_i(T) = \\frac{1}{2}$$ and $2 + x$", []),
    ("in code: `cost = f'$5'` and ```\n$2 per\n```", []),
])
def test_money_detector(text, amounts):
    assert money_as_math(text) == amounts
