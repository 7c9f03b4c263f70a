"""tools/nbtool.py, the script <-> notebook converter used to edit solutions/."""
import importlib.util

import nbformat

from helpers import ROOT

spec = importlib.util.spec_from_file_location("nbtool", ROOT / "tools" / "nbtool.py")
nbtool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbtool)

SCRIPT = "# %% [markdown]\n# # Title\n\n# %%\nx = 1\n\n# %% tags=[\"exercise\"]\ny = 2\n"


def test_round_trip_and_positional_ids(tmp_path):
    nb = nbtool.py2nb(SCRIPT, "demo")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[2].metadata["tags"] == ["exercise"]
    assert nbtool.py2nb(nbtool.nb2py(nb), "demo").cells[1].id == nb.cells[1].id


def test_writing_over_a_notebook_keeps_its_cell_ids(tmp_path):
    """Grading matches answers by cell id: an edit must not renumber a released lesson."""
    dst = tmp_path / "demo.ipynb"
    before = nbtool.py2nb(SCRIPT, "demo")
    before.cells[1].id, before.cells[2].id = "handmade", "inserted"   # as JupyterLab leaves them
    nbformat.write(before, dst)
    src = tmp_path / "demo.py"
    src.write_text(SCRIPT.replace("x = 1", "x = 10"))
    assert nbtool.main(["py2nb", str(src), str(dst)]) == 0
    after = nbformat.read(dst, as_version=4)
    assert [c.id for c in after.cells] == [c.id for c in before.cells]
    assert after.cells[1].source == "x = 10"
    # a cell whose kind changed at that place gets its positional id
    src.write_text(SCRIPT.replace("# %%\nx = 1", "# %% [markdown]\n# text"))
    nbtool.main(["py2nb", str(src), str(dst)])
    assert nbformat.read(dst, as_version=4).cells[1].id != "handmade"
