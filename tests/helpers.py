"""Shared helpers for the tests: run a check against a namespace, execute notebooks."""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"


def status(problem, **namespace) -> str:
    """The status of ``problem`` checked against a namespace holding ``namespace``."""
    return problem.evaluate(dict(namespace)).status


def outcome(problem, **namespace):
    return problem.evaluate(dict(namespace))


def execute_notebook(path, timeout: int = 300, env: dict | None = None, cwd=None):
    """Execute a notebook in a fresh kernel (the current environment); return it."""
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(cwd or Path(path).parent)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def errors(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return found


def output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for key in ("text/markdown", "text/plain"):
            if key in out.get("data", {}):
                parts.append(out["data"][key])
    return "\n".join(parts)


# What a library prints when it warns: the category names Python's `warnings` module writes
# ("FutureWarning: ..."), transformers' logger ("We strongly recommend passing in an
# `attention_mask`"), and any "Warning:" line.
WARNING_PATTERN = re.compile(
    r"Warning:|\b\w*Warning\b|We strongly recommend|is deprecated|warnings\.warn\(")


def warning_lines(outputs) -> list[str]:
    """The lines of ``outputs`` (a cell's outputs: stream, result, display) that read like a
    library warning."""
    found = []
    for out in outputs:
        texts = [out.get("text", "")]
        texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
        for text in texts:
            text = "".join(text) if isinstance(text, list) else text
            found += [line.strip()[:200] for line in text.splitlines() if WARNING_PATTERN.search(line)]
    return found


def warning_texts(nb) -> list[str]:
    """Every output line of the executed notebook ``nb`` that reads like a library warning."""
    return [f"cell {i}: {line}" for i, cell in enumerate(nb.cells)
            for line in warning_lines(cell.get("outputs", []))]


def assert_named_mistakes(problem) -> None:
    """Each known wrong function of a ``FunctionProblem`` disagrees with the reference on at
    least one case, and checking it gives exactly its message."""
    from course_utils.exercises.core import INCORRECT
    cases = problem.cases()
    for wrong, message in problem.mistakes:
        outputs = [wrong(*problem._copy(a), **problem._copy(k)) for a, k in cases]
        assert not problem._matches(problem.reference, cases, outputs), message
        verdict = outcome(problem, **{problem.var: wrong})
        assert verdict.status == INCORRECT and verdict.message == message, (message, verdict)


def assert_solution_and_stubs(problem, name: str, right) -> None:
    """A function exercise accepts ``right`` and calls the blank, a stub raising
    ``NotImplementedError`` and a function returning None what they are."""
    from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
    assert status(problem, **{name: right}) == CORRECT, outcome(problem, **{name: right})
    assert status(problem, **{name: ____}) == NOT_ATTEMPTED

    def stub(*args):
        raise NotImplementedError()
    assert status(problem, **{name: stub}) == NOT_ATTEMPTED
    assert status(problem, **{name: lambda *a: None}) == INCORRECT
