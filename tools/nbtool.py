"""Author notebooks as plain text: convert between percent-format scripts and notebooks.

    python tools/nbtool.py py2nb notebook_source.py solutions/01_soft_targets.ipynb
    python tools/nbtool.py nb2py solutions/01_soft_targets.ipynb /tmp/01.py

In the script, ``# %%`` starts a code cell, ``# %% [markdown]`` a Markdown cell (each line
prefixed by ``# ``), and ``# %% tags=["selftest"]`` gives a cell tags. Cell ids are derived
from the notebook name and the cell's position, so converting twice gives the same file; over
an existing notebook, each cell keeps the id of the cell of its kind at its place (grading
matches answers by id).
The notebook in solutions/ is the source of truth; the script is only a way to edit it.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def py2nb(text: str, stem: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"}, "language_info": {"name": "python"}}
    cells, current = [], None
    for line in text.split("\n"):
        m = HEADER.match(line)
        if m:
            current = {"md": bool(m["md"]), "tags": json.loads(m["tags"]) if m["tags"] else [], "lines": []}
            cells.append(current)
        elif current is not None:
            current["lines"].append(line)
    for i, c in enumerate(cells):
        lines = c["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        if c["md"]:
            src = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in lines)
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        cell.id = hashlib.sha1(f"{stem}:{i}".encode()).hexdigest()[:8]
        if c["tags"]:
            cell.metadata["tags"] = c["tags"]
        nb.cells.append(cell)
    return nb


def nb2py(nb) -> str:
    out = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        tag = f" tags={json.dumps(tags)}" if tags else ""
        if cell.cell_type == "markdown":
            out.append(f"# %% [markdown]{tag}")
            out.extend(("# " + l) if l else "#" for l in cell.source.split("\n"))
        else:
            out.append(f"# %%{tag}")
            out.append(cell.source)
        out.append("")
    return "\n".join(out)


def keep_ids(nb, before) -> None:
    """Give each cell the id of the cell of the same kind at the same place in ``before``.

    Released lessons carry these ids and grading matches a learner's answers by them, so an
    edit must not renumber them (cells added in JupyterLab have random ids, not positional ones).
    """
    old = before.cells
    for i, cell in enumerate(nb.cells):
        if i < len(old) and old[i].cell_type == cell.cell_type:
            cell.id = old[i].id


def main(argv):
    if len(argv) != 3 or argv[0] not in ("py2nb", "nb2py"):
        print(__doc__)
        return 2
    src, dst = Path(argv[1]), Path(argv[2])
    if argv[0] == "py2nb":
        nb = py2nb(src.read_text(encoding="utf-8"), dst.stem)
        if dst.exists():   # keep the notebook's own metadata (e.g. Colab's GPU request)
            before = nbformat.read(dst, as_version=4)
            nb.metadata.update(before.metadata)
            keep_ids(nb, before)
        dst.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        dst.write_text(nb2py(nbformat.read(src, as_version=4)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
