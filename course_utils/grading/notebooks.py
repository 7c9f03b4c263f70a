"""The release side of grading: what a lesson's notebook should contain, and a submission
put back into that shape.

A submission keeps only its **answers**: cells tagged ``exercise`` in the release (matched by
cell id). Every other release cell is restored from the release (a SHA-256 checksum of its
source tells whether the learner changed it), deleted cells come back, and code cells the
learner added are kept where they were (they are the learner's code, run in the same
sandbox). The kernel and metadata always come from the release.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..build import EXERCISE_TAG

HIDDEN_TAG = "hidden-check"
MAX_NOTEBOOK_BYTES = 20 << 20
_QUESTIONS = re.compile(r"^\s*from\s+(course_utils\.exercises\.lesson\w+)\s+import", re.M)


class ReleaseError(ValueError):
    """A release (or solutions) folder the grader cannot use: the instructor's to fix."""


def source_of(cell) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tags_of(cell) -> list:
    tags = cell.get("metadata", {}).get("tags", [])
    return list(tags) if isinstance(tags, list) else []


@dataclass
class Release:
    path: Path
    notebook: nbformat.NotebookNode
    module: str                      # the lesson's question module
    exercise_ids: list = field(default_factory=list)
    sums: dict = field(default_factory=dict)
    hidden_source: str = ""
    imports: str = ""

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def ids(self) -> list:
        return [c.get("id") for c in self.notebook.cells]


def _imports(code_cells: list[str]) -> str:
    """The top-level import statements of some code (what a function answer may rely on)."""
    lines = []
    for source in code_cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                text = ast.unparse(node)
                if text not in lines:
                    lines.append(text)
    return "\n".join(lines)


def load_release(release_dir, lesson: str, solutions_dir=None) -> Release:
    """The release notebook of ``lesson`` (a file name or its prefix, e.g. ``00``)."""
    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        raise ReleaseError(f"the release folder {release_dir} does not exist")
    matches = sorted(p for p in release_dir.glob("*.ipynb")
                     if p.stem == lesson or p.name == lesson or p.stem.startswith(f"{lesson}_"))
    if len(matches) != 1:
        found = ", ".join(p.stem for p in sorted(release_dir.glob("*.ipynb"))) or "none"
        raise ReleaseError(f"--lesson {lesson!r} matches {len(matches)} release notebooks "
                           f"(there are: {found})")
    path = matches[0]
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001
        raise ReleaseError(f"cannot read the release notebook {path}: {error}")
    code = [source_of(c) for c in nb.cells if c.cell_type == "code"]
    modules = sorted({m for s in code for m in _QUESTIONS.findall(s)})
    if len(modules) != 1:
        raise ReleaseError(f"{path.name} should import exactly one question module "
                           f"(`from course_utils.exercises.lessonNN import *`); found {modules}")
    ids = [c.get("id") for c in nb.cells]
    if None in ids or len(set(ids)) != len(ids):
        raise ReleaseError(f"{path.name}: every cell needs a unique id (run `course build`)")
    release = Release(path=path, notebook=nb, module=modules[0])
    release.exercise_ids = [c.id for c in nb.cells if EXERCISE_TAG in tags_of(c)]
    release.sums = {c.id: checksum(source_of(c)) for c in nb.cells}
    release.imports = _imports([source_of(c) for c in nb.cells
                                if c.cell_type == "code" and EXERCISE_TAG not in tags_of(c)])
    if solutions_dir is not None:
        release.hidden_source = load_hidden_source(Path(solutions_dir) / path.name)
    return release


def load_hidden_source(solution_path: Path) -> str:
    """The code of the solution notebook's cells tagged ``hidden-check`` (may be empty)."""
    if not solution_path.exists():
        raise ReleaseError(f"no solution notebook {solution_path} (for the hidden checks); "
                           f"leave out --solutions to grade without hidden checks")
    nb = nbformat.read(solution_path, as_version=4)
    return "\n\n".join(source_of(c) for c in nb.cells
                       if c.cell_type == "code" and HIDDEN_TAG in tags_of(c))


def read_submission(path: Path):
    """``(notebook, None)`` or ``(None, why it cannot be graded)``; never raises."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return None, f"the file cannot be read ({error.strerror})"
    if size > MAX_NOTEBOOK_BYTES:
        return None, f"the file is {size >> 20} MB; notebooks over {MAX_NOTEBOOK_BYTES >> 20} MB are not graded"
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"the file is not a notebook (not valid JSON: {str(error)[:120]})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "the file is JSON but not a Jupyter notebook (it has no list of cells)"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds
        return None, f"the notebook is not valid ({type(error).__name__}: {str(error)[:160]})"
    return nb, None


def restore(release: Release, submission) -> tuple[nbformat.NotebookNode, dict]:
    """The notebook to run: the release with the submission's answers (and added code)."""
    sub_cells = [c for c in submission.cells if isinstance(c.get("id"), str)]
    by_id = {}
    for cell in sub_cells:
        by_id.setdefault(cell["id"], cell)
    release_ids = set(release.ids)
    matched = sum(1 for i in release.ids if i in by_id)
    notes = {"matched": matched, "total": len(release.ids), "restored": [], "missing_answers": [],
             "added": 0, "duplicates": len(sub_cells) - len(by_id)}
    # learner-added code cells, keyed by the release cell they follow
    added_after: dict = {}
    last = None
    for cell in submission.cells:
        cid = cell.get("id")
        if cid in release_ids:
            last = cid
        elif cell.get("cell_type") == "code" and source_of(cell).strip():
            added_after.setdefault(last, []).append(source_of(cell))
    out = nbformat.v4.new_notebook()
    out.metadata = json.loads(json.dumps(release.notebook.metadata))
    for source in added_after.get(None, []):
        out.cells.append(_added(source, len(out.cells)))
    for position, cell in enumerate(release.notebook.cells, start=1):
        cid = cell.id
        mine = by_id.get(cid)
        if cid in release.exercise_ids:
            new = nbformat.v4.new_code_cell(source_of(cell))
            if mine is not None and mine.get("cell_type") == "code":
                new.source = source_of(mine)
            else:
                notes["missing_answers"].append(position)
        else:
            new = json.loads(json.dumps(cell))
            new = nbformat.from_dict(new)
            if mine is None:
                notes["restored"].append(f"cell {position} was deleted")
            elif checksum(source_of(mine)) != release.sums[cid] or mine.get("cell_type") != cell.cell_type:
                notes["restored"].append(f"cell {position} was edited")
        new.id = cid
        new.metadata = {"tags": tags_of(cell)} if tags_of(cell) else {}
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        out.cells.append(new)
        for source in added_after.get(cid, []):
            out.cells.append(_added(source, len(out.cells)))
    notes["added"] = sum(len(v) for v in added_after.values())
    return out, notes


def _added(source: str, index: int):
    cell = nbformat.v4.new_code_cell(source)
    cell.id = f"added-{index}"
    return cell
