"""lessons/ is exactly what solutions/ builds, and no solution leaks into it."""
import re

import nbformat
import pytest

from course_utils.build import BuildError, build_all, build_notebook, notebook_text, strip_code
from helpers import LESSONS, SOLUTIONS

SOLUTION_NOTEBOOKS = sorted(SOLUTIONS.glob("*.ipynb"))


def test_there_are_solutions_and_lessons():
    assert SOLUTION_NOTEBOOKS, "no solution notebooks"
    assert [p.name for p in SOLUTION_NOTEBOOKS] == sorted(p.name for p in LESSONS.glob("*.ipynb"))


def test_lessons_are_up_to_date():
    stale = build_all(SOLUTIONS, LESSONS, check=True)
    assert not stale, f"lessons/ differs from what solutions/ builds: {stale}. Run `make build`."


def test_build_is_deterministic():
    for path in SOLUTION_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert notebook_text(build_notebook(nb, path.stem)) == notebook_text(build_notebook(nb, path.stem))


def _solution_regions(source: str):
    return re.findall(r"### BEGIN SOLUTION\n(.*?)\n[ \t]*### END SOLUTION", source, re.S)


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_leaks(path):
    lesson_text = (LESSONS / path.name).read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in lesson_text and "END SOLUTION" not in lesson_text
    lesson = nbformat.read(LESSONS / path.name, as_version=4)
    lesson_code = "\n".join(c.source for c in lesson.cells)
    solution = nbformat.read(path, as_version=4)
    for cell in solution.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if {"selftest", "solution-only", "hidden-check"} & set(tags):
            assert cell.id not in {c.id for c in lesson.cells}, f"tagged cell {cell.id} leaked"
        for region in _solution_regions(cell.source):
            for line in region.split("\n"):
                line = line.strip()
                # Short generic lines (`return x`, `pass`) may legitimately appear elsewhere.
                if len(line) >= 25 and not line.startswith("#"):
                    assert line not in lesson_code, f"solution line leaked into {path.name}: {line!r}"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_lessons_have_no_outputs_and_unique_ids(path):
    lesson = nbformat.read(LESSONS / path.name, as_version=4)
    nbformat.validate(lesson)
    ids = [c.id for c in lesson.cells]
    assert len(ids) == len(set(ids))
    for cell in lesson.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_strip_code_top_level_and_function_body():
    src = ("import torch\n### BEGIN SOLUTION\nx = 1\ny, z = 2, 3\n### END SOLUTION\nq.check()\n"
           "def f(a):\n    ### BEGIN SOLUTION\n    return a + 1\n    ### END SOLUTION\n")
    out, changed = strip_code(src)
    assert changed
    assert out == ("import torch\n# YOUR CODE HERE\nx = ____\ny = ____\nz = ____\nq.check()\n"
                   "def f(a):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx = 1\n",
                                 "x = 1\n### END SOLUTION\n",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n"])
def test_unbalanced_markers_are_reported(bad):
    with pytest.raises(BuildError):
        strip_code(bad, "nb cell 0")


def test_build_drops_tagged_cells_and_tags_exercises():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\na = 1\n### END SOLUTION"),
                nbformat.v4.new_code_cell("assert a == 1"),
                nbformat.v4.new_markdown_cell("Answer: ### BEGIN SOLUTION\nsecret\n### END SOLUTION")]
    nb.cells[1].metadata["tags"] = ["selftest"]
    lesson = build_notebook(nb, "demo")
    assert len(lesson.cells) == 2
    assert lesson.cells[0].metadata["tags"] == ["exercise"]
    assert "secret" not in lesson.cells[1].source and "YOUR ANSWER HERE" in lesson.cells[1].source


def test_cli_check_fails_on_drift(tmp_path):
    from course_utils.build import main
    (tmp_path / "solutions").mkdir()
    (tmp_path / "lessons").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\na = 1\n### END SOLUTION")]
    nbformat.write(nb, tmp_path / "solutions" / "x.ipynb")
    args = ["--solutions", str(tmp_path / "solutions"), "--lessons", str(tmp_path / "lessons")]
    assert main(args + ["--check"]) == 1
    assert main(args) == 0
    assert main(args + ["--check"]) == 0
    (tmp_path / "lessons" / "x.ipynb").write_text("{}")
    assert main(args + ["--check"]) == 1
