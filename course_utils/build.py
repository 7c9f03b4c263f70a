"""Build ``lessons/`` from ``solutions/`` (nbgrader's convention, done deterministically).

In a solution notebook:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the answer. In the lesson
  it becomes ``# YOUR CODE HERE`` and a stub: inside a function body,
  ``raise NotImplementedError()``; at the top level, ``name = ____`` for each name the
  answer assigns, so the learner sees what to define and checks can say "not attempted";
* Markdown between the same markers becomes ``YOUR ANSWER HERE``;
* cells tagged ``solution-only``, ``selftest`` or ``hidden-check`` are dropped;
* cells that held an answer are tagged ``exercise`` (the grader keeps only those from a
  submission and restores every other cell from the release).

Everything else -- Markdown, the Colab badge, the set-up cell -- is carried over unchanged.
Outputs and execution counts are cleared, cell ids kept (or derived from the notebook name
and position when missing), and the JSON written the same way every time.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

from .io import atomic_write_text

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DROP_TAGS = {"solution-only", "selftest", "hidden-check"}
EXERCISE_TAG = "exercise"
STUB_VALUE = "____"


class BuildError(ValueError):
    """A solution notebook whose markers cannot be turned into a lesson."""


def _assigned_names(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id not in names:
                    names.append(sub.id)
    return names


def strip_code(source: str, where: str = "") -> tuple[str, bool]:
    """Replace each solution region of a code cell with its stub. Returns (text, changed)."""
    lines = source.split("\n")
    out, i, changed = [], 0, False
    while i < len(lines):
        line = lines[i]
        if line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            j = i + 1
            while j < len(lines) and lines[j].strip() != END:
                if lines[j].strip() == BEGIN:
                    raise BuildError(f"{where}: nested {BEGIN}")
                j += 1
            if j == len(lines):
                raise BuildError(f"{where}: {BEGIN} without {END}")
            body = "\n".join(l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1:j])
            out.append(f"{indent}# YOUR CODE HERE")
            if indent:
                out.append(f"{indent}raise NotImplementedError()")
            else:
                out.extend(f"{name} = {STUB_VALUE}" for name in _assigned_names(body))
            i, changed = j + 1, True
            continue
        if line.strip() == END:
            raise BuildError(f"{where}: {END} without {BEGIN}")
        out.append(line)
        i += 1
    return "\n".join(out), changed


def strip_markdown(source: str, where: str = "") -> tuple[str, bool]:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if source.count(BEGIN) != source.count(END):
        raise BuildError(f"{where}: unbalanced solution markers in Markdown")
    new, n = pattern.subn("YOUR ANSWER HERE", source)
    return new, bool(n)


# A dollar sign that starts an amount of money ("$5.576M", "$2 per hour", "$0.0025"): Markdown
# renderers with maths (JupyterLab, GitHub, Colab) pair it with the next `$` and typeset the text
# between as a formula. Write money as `\$5`; `$...$` is kept for mathematics.
_MONEY = re.compile(r"(?<![\\$])\$(?!\$)(?=(\d+(?:,\d{3})*(?:\.\d+)?(?:[kKMB]|bn)?))\1"
                    r"(?=[\s.,;:!?)\]*]|/\\?\$|$)(?!\s*[-+=<>*^_\\|])")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def unescaped_money(markdown: str) -> list[str]:
    """The amounts of money written with an unescaped ``$`` in a Markdown text.

    >>> unescaped_money("costs $5.576M at $2 per hour, not $1/N$ or \\$3")
    ['$5.576M', '$2']
    """
    text = _CODE.sub(lambda m: " " * len(m.group()), markdown)
    return [m.group() for m in _MONEY.finditer(text)]


def escape_money(markdown: str) -> str:
    """``markdown`` with each amount of money's ``$`` escaped (``\\$5``), code spans untouched."""
    text = _CODE.sub(lambda m: " " * len(m.group()), markdown)
    starts = [m.start() for m in _MONEY.finditer(text)]
    for start in reversed(starts):
        markdown = markdown[:start] + "\\" + markdown[start:]
    return markdown


def _cell_id(notebook_name: str, index: int) -> str:
    return hashlib.sha1(f"{notebook_name}:{index}".encode()).hexdigest()[:8]


def build_notebook(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The lesson notebook made from one solution notebook."""
    lesson = nbformat.v4.new_notebook()
    lesson.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(solution.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if DROP_TAGS & set(tags):
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        where = f"{name} cell {index}"
        if cell.cell_type == "code":
            source, changed = strip_code(source, where)
            new = nbformat.v4.new_code_cell(source)
        elif cell.cell_type == "markdown":
            source, changed = strip_markdown(source, where)
            new = nbformat.v4.new_markdown_cell(source)
        else:
            changed = False
            new = nbformat.v4.new_raw_cell(source)
        if changed and EXERCISE_TAG not in tags:
            tags.append(EXERCISE_TAG)
        new.id = cell.get("id") or _cell_id(name, index)
        new.metadata = {"tags": tags} if tags else {}
        lesson.cells.append(new)
    return lesson


def notebook_text(nb: nbformat.NotebookNode) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build_all(solutions_dir="solutions", lessons_dir="lessons", check: bool = False) -> list[str]:
    """Build every lesson. With ``check=True`` write nothing and return the out-of-date ones."""
    solutions_dir, lessons_dir = Path(solutions_dir), Path(lessons_dir)
    stale = []
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise BuildError(f"No solution notebooks in {solutions_dir}/.")
    for path in sources:
        solution = nbformat.read(path, as_version=4)
        text = notebook_text(build_notebook(solution, path.stem))
        target = lessons_dir / path.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            stale.append(str(target))
            if not check:
                atomic_write_text(target, text)
    expected = {p.name for p in sources}
    for extra in sorted(lessons_dir.glob("*.ipynb")):
        if extra.name not in expected:
            stale.append(f"{extra} (no solution notebook)")
    return stale


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="course build", description=__doc__.split("\n")[0])
    parser.add_argument("--solutions", default="solutions")
    parser.add_argument("--lessons", default="lessons")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail if lessons/ is not what solutions/ builds")
    args = parser.parse_args(argv)
    try:
        stale = build_all(args.solutions, args.lessons, check=args.check)
    except (BuildError, OSError, nbformat.ValidationError, json.JSONDecodeError) as error:
        print(f"course build: {error}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("lessons/ is out of date; run `course build` (or `make build`):")
            print("\n".join(f"  {s}" for s in stale))
            return 1
        print("lessons/ is up to date.")
        return 0
    print(f"Built {len(stale)} changed lesson(s)." if stale else "lessons/ already up to date.")
    return 0
