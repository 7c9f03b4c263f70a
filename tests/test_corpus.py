"""Every exercise's corpus (tests/corpus/lessonNN.py): each wrong answer is rejected with a
message naming the mistake or the failing input, each right answer accepted, all within the
time limit (issue 17)."""
import importlib
import re
import time
from pathlib import Path

import pytest

from course_utils.exercises import core

HERE = Path(__file__).resolve().parent
LESSONS = sorted(p.stem[len("lesson"):] for p in (HERE / "corpus").glob("lesson*.py"))
EXERCISE_MODULES = sorted(p.stem[len("lesson"):] for p in
                          (HERE.parent / "course_utils" / "exercises").glob("lesson*.py"))
SECONDS = 15   # no check may run past this, whatever the answer


def _entries():
    for nn in LESSONS:
        corpus = importlib.import_module(f"corpus.lesson{nn}")
        for q, spec in corpus.CORPUS.items():
            for i, answer in enumerate(spec["right"]):
                yield pytest.param(nn, q, answer, None, id=f"lesson{nn}-{q}-right{i}")
            for i, (answer, phrase) in enumerate(spec["wrong"]):
                yield pytest.param(nn, q, answer, phrase, id=f"lesson{nn}-{q}-wrong{i}")


def _namespace(nn, answer) -> dict:
    corpus = importlib.import_module(f"corpus.lesson{nn}")
    ns: dict = {}
    exec(compile(corpus.PRELUDE, f"<lesson {nn} imports>", "exec"), ns)
    if isinstance(answer, str):
        exec(compile(answer, "<learner answer>", "exec"), ns)
    else:
        ns.update(answer() if callable(answer) else answer)
    return ns


@pytest.mark.parametrize("nn, q, answer, phrase", list(_entries()))
def test_corpus(nn, q, answer, phrase):
    problem = getattr(importlib.import_module(f"course_utils.exercises.lesson{nn}"), q)
    ns = _namespace(nn, answer)
    start = time.monotonic()
    out = problem.evaluate(ns)
    seconds = time.monotonic() - start
    assert seconds < SECONDS, f"the check took {seconds:.1f} s"
    if phrase is None:
        assert out.status == core.CORRECT, out
    else:
        assert out.status in (core.INCORRECT, core.TIMED_OUT), out
        assert re.search(phrase, out.message, re.I), out


@pytest.mark.parametrize("nn", EXERCISE_MODULES)
def test_every_function_exercise_has_a_corpus(nn):
    assert nn in LESSONS, f"tests/corpus/lesson{nn}.py is missing"
    corpus = importlib.import_module(f"corpus.lesson{nn}").CORPUS
    module = importlib.import_module(f"course_utils.exercises.lesson{nn}")
    for name in module.__all__:
        if isinstance(getattr(module, name), core.FunctionProblem):
            assert name in corpus, f"lesson {nn} {name} has no corpus"
    for q, spec in corpus.items():
        if any(isinstance(a, str) for a in spec["right"]):   # a function exercise
            assert len(spec["wrong"]) >= 5 and len(spec["right"]) >= 3, (nn, q)
