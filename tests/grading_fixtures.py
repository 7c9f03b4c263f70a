"""Adversarial submissions for `course grade`, made from the release notebook of lesson 00.

Each maker takes the release and solution notebooks and returns the submitted file's text, so
the fixtures stay in sync with the lesson. ``EXPECTED`` says what each must score per question
and what the report must mention. The hostile ones answer one question honestly, so a test
also sees that honest work still counts and that answers extracted before an attack survive.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from course_utils.build import BEGIN, END

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "lessons" / "00_welcome.ipynb"
SOLUTION = ROOT / "solutions" / "00_welcome.ipynb"

Q1_ID, Q2_ID = "be223dd2", "240bdd4d"   # the answer cells of lesson 00 (ids are stable)
HONEST_Q1 = "probs = torch.softmax(torch.tensor([3.0, 1.0, 0.2]), dim=0)\nq1.check()"
HONEST_Q2 = 'answer = "b"\nq2.check()'


def _load(path: Path):
    return nbformat.read(path, as_version=4)


def solution_answers(solution=None) -> dict:
    """``{cell id: answer code}`` from the solution notebook (markers removed)."""
    solution = solution or _load(SOLUTION)
    out = {}
    for cell in solution.cells:
        if BEGIN in cell.source:
            lines = [l for l in cell.source.split("\n") if l.strip() not in (BEGIN, END)]
            out[cell.id] = "\n".join(lines)
    return out


def with_answers(release, answers: dict, extra_cells=()):
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    for source in extra_cells:
        cell = nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)
    return nbformat.writes(nb)


def make_submissions(folder: Path, release_dir: Path, out_dir: Path, port: int) -> dict:
    """Write every case into ``folder`` as ``<case>.ipynb``; return ``EXPECTED``."""
    release = _load(release_dir / "00_welcome.ipynb")
    honest = solution_answers()
    sentinel = f"pwned-{port}"
    cases = {
        "solution": with_answers(release, honest),
        "unsolved": nbformat.writes(release),
        "infinite_loop": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: "while True:\n    pass"}),
        "stubborn_loop": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import time\nwhile True:  # ignores the interrupt\n    try:\n        time.sleep(0.05)\n"
            "    except BaseException:\n        pass")}),
        "memory_bomb": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            # 6 GB at a time, past the 4,000 MB limit at the first: refused at once, where 2 GB
            # pieces were zero-filled first and a busy machine ran out the 5-second cell limit
            "hog = [bytearray(6_000_000_000) for _ in range(20)]  # 120 GB")}),
        "fork_bomb": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")}),
        "output_flood": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "while True:\n    print('spam ' * 2000)")}),
        "network_call": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import urllib.request\n"
            f"answer = urllib.request.urlopen('http://127.0.0.1:{port}/answer', timeout=5).read().decode()\n"
            "q2.check()")}),
        "write_outside": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import os, pathlib, course_utils\n"
            f"targets = ['/tmp/{sentinel}', os.path.expanduser('~/{sentinel}'), '/root/{sentinel}',\n"
            f"           str(pathlib.Path(course_utils.__file__).parents[1] / '{sentinel}'),\n"
            f"           '{out_dir}/grades.csv', '{out_dir}/{sentinel}', '{release_dir}/{sentinel}']\n"
            "for t in targets:\n    try:\n        pathlib.Path(t).write_text('learner,total\\nmallory,999\\n')\n"
            "    except Exception as e:\n        print(t, type(e).__name__)\n")}),
        "delete_release": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import shutil, os, glob, course_utils, pathlib\n"
            f"shutil.rmtree('{release_dir}', ignore_errors=True)\n"
            f"shutil.rmtree('{out_dir}', ignore_errors=True)\n"
            "repo = pathlib.Path(course_utils.__file__).parents[1]\n"
            "for p in glob.glob(str(repo / 'lessons' / '*.ipynb')):\n"
            "    try:\n        os.remove(p)\n    except Exception as e:\n        print(p, type(e).__name__)\n")}),
        "redefine_check": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import course_utils.exercises.core as core\n"
            "core.Problem.evaluate = lambda self, namespace=None: core.Outcome('correct', 'ok')\n"
            "core.assert_close = lambda *args, **kwargs: None\n"
            "class Fake:\n    def check(self):\n        print('Correct!')\n"
            "q1 = q2 = Fake()\n"
            "answer = 'a'\nq2.check()")}),
        "eq_always_true": with_answers(release, {Q2_ID: HONEST_Q2, Q1_ID: (
            "class Always:\n    def __eq__(self, other):\n        return True\n"
            "    __hash__ = object.__hash__\n"
            "probs = Always()\nq1.check()")}),
        "lying_subclass": with_answers(release, {Q2_ID: HONEST_Q2, Q1_ID: (
            "class Liar(torch.Tensor):\n"
            "    def __eq__(self, other):\n        return torch.ones_like(other, dtype=torch.bool)\n"
            "    def allclose(self, *a, **k):\n        return True\n"
            "probs = torch.zeros(3).as_subclass(Liar)\nq1.check()")}),
        "traceback_hook": with_answers(release, {Q1_ID: HONEST_Q1, Q2_ID: (
            "import sys\nsys.excepthook = lambda *args: None\n"
            "get_ipython().showtraceback = lambda *args, **kwargs: None\n"
            "answer = this_name_does_not_exist\nq2.check()")}),
        "hidden_check_float64": with_answers(release, {Q2_ID: HONEST_Q2, Q1_ID: (
            "probs = torch.softmax(torch.tensor([3.0, 1.0, 0.2], dtype=torch.float64), dim=0)\n"
            "q1.check()")}),
        "edited_instructions": _edited(release, honest),
        "not_json": "{ this is not a notebook: the learner saved a text file \n",
        "other_lesson": _other_lesson(),
        "empty": nbformat.writes(nbformat.v4.new_notebook()),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in cases.items():
        (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")
    return EXPECTED


def _edited(release, honest):
    """Solved honestly, but the instructions and the import of the checks were edited."""
    nb = json.loads(with_answers(release, honest))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "Exercise 1" in "".join(cell["source"]):
            cell["source"] = "### Exercise 1 -- (the learner rewrote this)"
        if "from course_utils.exercises.lesson00 import" in "".join(cell["source"]):
            cell["source"] = ("import torch\nclass _Q:\n    def check(self):\n        print('Correct')\n"
                              "q1 = q2 = q3 = _Q()\n____ = None")
    nb["cells"].pop(2)  # and a cell was deleted
    return json.dumps(nb)


def _other_lesson():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Soft targets"),
                nbformat.v4.new_code_cell("import torch\nanswer = 'b'\nprobs = torch.softmax(torch.tensor([3.0, 1.0, 0.2]), dim=0)")]
    return nbformat.writes(nb)


# case: (q1 score, q2 score, status, a phrase the learner's feedback or report must contain)
EXPECTED = {
    "solution": (1, 1, "graded", None),
    "unsolved": (0, 0, "graded", "not attempted"),
    "infinite_loop": (1, 0, "graded", "time limit"),
    "stubborn_loop": (1, 0, "graded", "time limit"),
    "memory_bomb": (1, 0, "graded", "MemoryError"),
    "fork_bomb": (1, 0, "graded", None),
    "output_flood": (1, 0, "graded", None),   # cut, or stopped for time: see test_grading
    "network_call": (1, 0, "graded", None),
    "write_outside": (1, 0, "graded", None),
    "delete_release": (1, 0, "graded", None),
    "redefine_check": (1, 0, "graded", "(a) is training on the teacher"),
    "eq_always_true": (0, 1, "graded", "object of type Always"),
    "lying_subclass": (0, 1, "graded", "object of type Liar"),
    "traceback_hook": (1, 0, "graded", None),
    "hidden_check_float64": (0, 1, "graded", "float64"),
    "edited_instructions": (1, 1, "graded", "was edited"),
    "not_json": (0, 0, "unreadable", "not a notebook"),
    "other_lesson": (0, 0, "wrong lesson", "not the notebook of 00_welcome"),
    "empty": (0, 0, "empty", "no cells"),
}


# what the instructor's report must say about each hostile submission
REPORTED = {
    "infinite_loop": "ran past its time limit",
    "stubborn_loop": "ignored its time limit",
    "memory_bomb": "MemoryError",
    "fork_bomb": "forked processes",
    "network_call": "tried to open a network connection",
    "write_outside": "tried to write outside its working folder",
    "delete_release": "tried to delete outside its working folder",
    "redefine_check": "redefined `q1`",
    "traceback_hook": "replaced IPython's `showtraceback`",
    "edited_instructions": "was edited",
}
