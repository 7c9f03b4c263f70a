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
import copy
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


# A dollar sign before an amount of money ("$5.576M", "$2 per hour"). Markdown renderers with
# maths pair it with the next `$` and typeset the text between as a formula: JupyterLab 4 does so
# even when it is escaped (`\$`: its Markdown step unescapes it before MathJax runs; the browser
# test saw "5.576 M a t 2"). So money is written in words ("5.576 million US dollars", "2.50
# dollars"), and `$` is kept for mathematics.
_MONEY = re.compile(r"(?<!\$)\\?\$(?!\$)(?=(\d+(?:,\d{3})*(?:\.\d+)?(?:[kKMB]|bn)?))\1"
                    r"(?=[\s.,;:!?)\]*]|/\\?\$|$)(?!\s*[-+=<>*^_\\|])")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def money_as_math(markdown: str) -> list[str]:
    """The amounts of money written with a ``$`` (escaped or not) in a Markdown text.

    >>> money_as_math("costs $5.576M at $2 per hour, not $1/N$; 3 dollars")
    ['$5.576M', '$2']
    """
    text = _CODE.sub(lambda m: " " * len(m.group()), markdown)
    return [m.group() for m in _MONEY.finditer(text)]


# ---------------------------------------------------------------------------------------
# Colab: the badge and the set-up cell, stamped with the repository (config.COURSE_REPO)
# ---------------------------------------------------------------------------------------
SETUP_MARKER = "# Set-up."
_BADGE_URL = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/")
_REPO_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Lessons that train enough to want a GPU: their metadata asks Colab for a T4 runtime.
COLAB_GPU_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}

SETUP_CELL = '''# Set-up. On Colab this installs the course helpers (`course_utils`) and checks that it worked;
# Colab's own torch is kept. On your own machine (`make lab`) this cell does nothing.
import sys
if "google.colab" in sys.modules:
    import glob, importlib, pathlib, subprocess
    REPO = "{repo}"  # a fork? its OWNER/NAME here
    uploaded = sorted(glob.glob("/content/dark-knowledge*.zip"))  # an uploaded copy is used first
    source = pathlib.Path(uploaded[-1]).as_uri() if uploaded else f"git+https://github.com/{{REPO}}"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"dark-knowledge @ {{source}}"],
                         capture_output=True, text=True)
    importlib.invalidate_caches()
    try:
        import course_utils
        problem = None if pip.returncode == 0 else f"pip could not install {{source}}"
    except ImportError as error:
        problem = f"pip ran, but `import course_utils` failed ({{error}})"
    if problem:
        class CourseSetupError(RuntimeError):
            def _render_traceback_(self):  # IPython shows this paragraph, not a traceback
                return [str(self)]
        raise CourseSetupError(
            f"The course could not be set up: {{problem}}. pip said: "
            f"{{(pip.stderr or pip.stdout).strip()[-600:] or '(nothing)'}}\\n\\nWhat to do: choose Runtime → "
            "Restart session, then run this cell again (that clears a half-finished install or a "
            "network hiccup). If it fails again, the repository cannot be reached: for a fork, put "
            "its OWNER/NAME in REPO above; or download the course as a zip (on GitHub: Code → "
            "Download ZIP), upload it with the Files panel on the left, name it dark-knowledge.zip "
            "and run this cell again. The rest of this notebook needs course_utils, so it stops here.")
    print(f"course_utils is ready (installed from {{source}}).")
    # course_utils.config.use_drive_cache()  # uncomment: keep trained teachers on your Google Drive'''


def colab_badge_url(repo: str, notebook: str) -> str:
    """The "Open in Colab" link of a lesson of the course at ``repo`` (OWNER/NAME)."""
    return f"https://colab.research.google.com/github/{repo}/blob/main/lessons/{notebook}"


def setup_cell_source(repo: str) -> str:
    """The set-up cell every lesson starts with, for the course at ``repo`` (OWNER/NAME)."""
    return SETUP_CELL.format(repo=repo)


def check_repo(repo: str) -> str:
    if not _REPO_NAME.match(repo or ""):
        raise BuildError(f"--repo must look like OWNER/NAME (a GitHub repository), not {repo!r}")
    return repo


def stamp_colab(nb: nbformat.NotebookNode, repo: str) -> bool:
    """Point the notebook's Colab badges and set-up cell at ``repo``. Returns whether it changed."""
    changed = False
    for cell in nb.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown":
            new = _BADGE_URL.sub(f"https://colab.research.google.com/github/{repo}/blob/", source)
        elif cell.cell_type == "code" and source.startswith(SETUP_MARKER):
            new = setup_cell_source(repo)
        else:
            continue
        if new != source:
            cell.source, changed = new, True
    return changed


def stamp_text(text: str, repo: str) -> str:
    """A Markdown file (the README) with its Colab badges pointed at ``repo``."""
    return _BADGE_URL.sub(f"https://colab.research.google.com/github/{repo}/blob/", text)


def set_course_repo(repo: str) -> bool:
    """Write ``repo`` into the one place the course keeps it, ``config.COURSE_REPO``."""
    from . import config
    check_repo(repo)
    path = Path(config.__file__)
    text = path.read_text(encoding="utf-8")
    new = re.sub(r'^COURSE_REPO = ".*"$', f'COURSE_REPO = "{repo}"', text, count=1, flags=re.M)
    config.COURSE_REPO = repo
    if new == text:
        return False
    atomic_write_text(path, new)
    return True


def _cell_id(notebook_name: str, index: int) -> str:
    return hashlib.sha1(f"{notebook_name}:{index}".encode()).hexdigest()[:8]


def build_notebook(solution: nbformat.NotebookNode, name: str,
                   repo: str | None = None) -> nbformat.NotebookNode:
    """The lesson notebook made from one solution notebook (Colab links pointed at ``repo``,
    by default ``config.COURSE_REPO``)."""
    from .config import COURSE_REPO
    solution = copy.deepcopy(solution)
    stamp_colab(solution, repo or COURSE_REPO)
    lesson = nbformat.v4.new_notebook()
    lesson.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for key in COLAB_GPU_METADATA:       # a lesson that asks Colab for a GPU keeps asking
        if key in solution.metadata:
            lesson.metadata[key] = copy.deepcopy(solution.metadata[key])
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


def build_all(solutions_dir="solutions", lessons_dir="lessons", check: bool = False,
              repo: str | None = None) -> list[str]:
    """Build every lesson. With ``check=True`` write nothing and return the out-of-date ones.

    The Colab badges and set-up cells of the solutions (and the README's badges, beside
    ``solutions/``) are stamped with ``repo`` (default ``config.COURSE_REPO``) too.
    """
    from .config import COURSE_REPO
    repo = check_repo(repo or COURSE_REPO)
    solutions_dir, lessons_dir = Path(solutions_dir), Path(lessons_dir)
    stale = []
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise BuildError(f"No solution notebooks in {solutions_dir}/.")
    readme = solutions_dir.parent / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        if stamp_text(text, repo) != text:
            stale.append(f"{readme} (Colab badges)")
            if not check:
                atomic_write_text(readme, stamp_text(text, repo))
    for path in sources:
        solution = nbformat.read(path, as_version=4)
        if stamp_colab(solution, repo):
            stale.append(f"{path} (Colab badge or set-up cell)")
            if not check:
                atomic_write_text(path, notebook_text(solution))
        text = notebook_text(build_notebook(solution, path.stem, repo))
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
    parser.add_argument("--repo", default=None, metavar="OWNER/NAME",
                        help="the GitHub repository the Colab badges and set-up cells install "
                        "from (a fork); saved as COURSE_REPO in course_utils/config.py")
    args = parser.parse_args(argv)
    try:
        if args.repo and not args.check and set_course_repo(args.repo):
            print(f"COURSE_REPO is now {args.repo!r} (course_utils/config.py).")
        stale = build_all(args.solutions, args.lessons, check=args.check, repo=args.repo)
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
    print(f"Wrote {len(stale)} changed file(s):\n" + "\n".join(f"  {s}" for s in stale)
          if stale else "lessons/ already up to date.")
    return 0
