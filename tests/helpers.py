"""Shared helpers for the tests: run a check against a namespace, execute notebooks."""
from __future__ import annotations

import os
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
