"""Every lesson, graded as an instructor would: the solution notebook, submitted as it is,
gets full marks (ci profile). For lessons 00 and 01 the unsolved release is graded beside it and
gets zero, every question "not attempted"; for the others that costs a second sandboxed run of
the whole notebook for what tests/test_lessons_unsolved.py already shows in `make test` (every
release runs and says "not attempted" to every check), so `make test-grading` grades their
solutions only."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.config import cache_dir
from course_utils.grading import grade
from course_utils.grading.sandbox import capabilities

from grading_fixtures import solution_answers

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
CAPS = capabilities()
# As `course grade` does by default, each sandbox starts from a copy of the course's cache, so
# teachers trained by earlier notebooks (make test runs the solutions first) are not retrained.
LIMITS = {"cell_s": 120, "release_cell_s": 600, "total_s": 900, "profile": "ci",
          "cache_seed": str(cache_dir())}


# Lessons 00 and 01 (value answers, a replayed function, an endless one) in `make test`; the
# others, minutes more, in `make test-grading` (CI runs both).
QUICK = ("00_welcome", "01_soft_targets")


@pytest.mark.skipif(not CAPS["sandbox"], reason=f"no grading sandbox here: {CAPS['problem']}")
@pytest.mark.parametrize("lesson", [l if l in QUICK else pytest.param(l, marks=pytest.mark.grading_all)
                                    for l in LESSONS])
def test_solution_gets_full_marks_release_zero(lesson, tmp_path):
    release = nbformat.read(ROOT / "lessons" / f"{lesson}.ipynb", as_version=4)
    answers = solution_answers(nbformat.read(ROOT / "solutions" / f"{lesson}.ipynb", as_version=4))
    solved = copy.deepcopy(release)
    for cell in solved.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    subs = tmp_path / "submitted"
    subs.mkdir()
    nbformat.write(solved, subs / "solution.ipynb")
    with_release = lesson in QUICK
    if with_release:
        nbformat.write(release, subs / "unsolved.ipynb")
    endless = _endless_function(lesson, release, answers)
    if endless:
        nbformat.write(endless[0], subs / "endless.ipynb")
    # The unsolved submission is the release itself: no separate self-test needed here.
    result = grade(ROOT / "lessons", subs, tmp_path / "grades", lesson[:2], ROOT / "solutions",
                   workers=2, limits=LIMITS, progress=False, check_release=False)
    records = {r["learner"]: r for r in result["records"]}
    n = len(result["problems"])
    assert n > 0
    solution = records["solution"]
    detail = {p["name"]: (p["status"], p["message"][:300]) for p in solution["problems"]}
    assert solution["status"] == "graded", solution.get("reason")
    assert solution["total"] == n, (detail, solution["events"], solution.get("errors"))
    if with_release:
        unsolved = records["unsolved"]
        assert unsolved["status"] == "graded" and unsolved["total"] == 0
        assert {p["status"] for p in unsolved["problems"]} == {"not attempted"}, unsolved["problems"]
    if endless:
        # One answer never returns: that question times out, the others still count.
        scores = {p["name"]: (p["status"], p["score"]) for p in records["endless"]["problems"]}
        assert scores.pop(endless[1]) == ("timed out", 0), records["endless"]["problems"]
        assert all(v == ("correct", 1) for v in scores.values()), scores
        feedback = (tmp_path / "grades" / "feedback" / "endless.md").read_text()
        assert f"{endless[1]}: timed out" in feedback


def _endless_function(lesson, release, answers):
    """Lesson 01 only (to keep the suite quick): the solution, with its first function answer
    redefined at the end of its cell as a loop without end; ``(notebook, question)``."""
    if lesson != "01_soft_targets":
        return None
    solved = copy.deepcopy(release)
    for cell in solved.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    for cell in solved.cells:
        found = re.search(r"^def (\w+)\(", cell.source, re.M)
        question = re.search(r"^(q\d+)\.check\(\)", cell.source, re.M)
        if cell.id in answers and found and question:
            cell.source += f"\ndef {found.group(1)}(*args, **kwargs):\n    while True:\n        pass\n"
            return solved, question.group(1)
    return None
