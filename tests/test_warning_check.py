"""The check that fails a solution notebook writing a library warning to its outputs.

`conftest.py` (the checkout's root) reads the outputs nbval collected for each cell; the
unsolved-lesson test reads the outputs of its own run. Both use `helpers.warning_lines`.
"""
import shutil

import nbformat

from helpers import ROOT, warning_lines, warning_texts

pytest_plugins = ["pytester"]

WARNINGS = [
    "/x/transformers/generation/utils.py:1: FutureWarning: `past_key_values` is deprecated",
    "UserWarning: To copy construct from a tensor, it is recommended to use sourceTensor.clone()",
    "DeprecationWarning: datetime.datetime.utcnow() is deprecated",
    "We strongly recommend passing in an `attention_mask` since your input_ids may be padded.",
    "Warning: something went wrong",
]
CLEAN = ["teacher 94.5% | student 90.1%", "epoch 3: loss 0.21", "profile: ci | sizes: {...}",
         "the warning signs of a harvester (lesson 09)"]


def stream(text, name="stderr"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_warning_lines_finds_library_warnings_and_passes_plain_output():
    for text in WARNINGS:
        assert warning_lines([stream(text)]), text
        assert warning_lines([nbformat.v4.new_output("execute_result", data={"text/plain": text})])
    assert warning_lines([stream("\n".join(CLEAN), name="stdout")]) == []


def test_warning_texts_names_the_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("2")])
    nb.cells[1].outputs = [stream(WARNINGS[0])]
    assert [t.split(":")[0] for t in warning_texts(nb)] == ["cell 1"]


def test_nbval_cell_that_warns_fails(pytester):
    """A notebook whose cell warns fails under nbval with the root conftest; a clean one passes."""
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    (pytester.path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "helpers.py", pytester.path / "tests" / "helpers.py")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('fine')"),
        nbformat.v4.new_code_cell("import warnings\nwarnings.warn('old API', FutureWarning)")])
    nbformat.write(nb, pytester.path / "warns.ipynb")
    result = pytester.runpytest_subprocess("warns.ipynb", "--nbval-lax", "--nbval-current-env",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*wrote warning text to its outputs*", "*FutureWarning: old API*"])
