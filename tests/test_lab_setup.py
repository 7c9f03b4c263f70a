"""`make lab` opens lesson 00 (from the printed URL too) with the course's JupyterLab settings."""
import json
import runpy

import pytest

from helpers import ROOT

CONFIG = ROOT / "jupyter" / "jupyter_lab_config.py"


class _Section(dict):
    def __getattr__(self, name):
        return self.setdefault(name, _Section())

    def __setattr__(self, name, value):
        self[name] = value


def test_lab_config_opens_lesson_00_with_course_settings():
    c = _Section()
    runpy.run_path(str(CONFIG), init_globals={"c": c})
    url = c.LabApp.default_url
    assert url.startswith("/lab/tree/")
    from pathlib import Path
    root = Path(c.ServerApp.root_dir)
    assert root == ROOT / "lessons" and (root / url.removeprefix("/lab/tree/")).is_file()
    overrides = json.loads((Path(c.LabApp.app_settings_dir) / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False


def test_make_lab_uses_the_config():
    makefile = (ROOT / "Makefile").read_text()
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert '--config="$(CURDIR)/jupyter/jupyter_lab_config.py"' in lab


def test_ci_installs_what_the_browser_test_needs():
    import tomllib
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -q chromium" in ci and "COURSE_ARTIFACTS" in ci
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(r.startswith("playwright") for r in project["project"]["optional-dependencies"]["test"])
    markers = project["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("browser:") for m in markers)


FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$*" in *"import torch"*) exit {torch_rc};; *"urllib.request"*) exit {probe_rc};; esac
exit 0
"""


@pytest.mark.parametrize("case, make_args, constraint, torch_installed, torch_from", [
    ("laptop without a GPU", ["HAS_NVIDIA="], None, False, "https://download.pytorch.org/whl/cpu"),
    ("CI: torch pinned to a local wheel", [], "ci", False, None),
    ("NVIDIA GPU present", ["HAS_NVIDIA=yes"], None, False, None),
    ("torch already installed", [], None, True, None),
    ("another index", ["TORCH_INDEX=https://download.pytorch.org/whl/cu126"], None, False,
     "https://download.pytorch.org/whl/cu126"),
    ("PyPI's default build", ["TORCH_INDEX="], None, False, None),
    ("index unreachable (PyPI only)", ["HAS_NVIDIA=", "TORCH_INDEX=http://unreachable.invalid/whl"],
     None, False, None),
])
def test_make_setup_installs_cpu_torch_without_nvidia(tmp_path, case, make_args, constraint,
                                                      torch_installed, torch_from):
    """The recipe of `make setup`, run by make with a stand-in python that logs its arguments."""
    import os
    import shutil
    import subprocess
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON.format(torch_rc=0 if torch_installed else 1,
                                         probe_rc=1 if "unreachable" in case else 0))
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    if constraint:  # as .ci/run sets it: relative to the checkout (whose path may hold a space)
        (tmp_path / ".ci").mkdir()
        shutil.copy(ROOT / ".ci" / "constraints.txt", tmp_path / ".ci" / "constraints.txt")
        env["PIP_CONSTRAINT"] = ".ci/constraints.txt"
    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "setup", *make_args],
                   cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    calls = [c for c in (python.parent / "calls.log").read_text().splitlines()
             if "import torch" not in c]
    probes = [c for c in calls if "urllib.request" in c]   # the index is checked before pip uses it
    calls = [c for c in calls if c not in probes]
    if "unreachable" in case:
        assert probes and probes[0].endswith("http://unreachable.invalid/whl/torch/"), probes
    assert calls[-1] == '-m pip install --quiet -e .[lab,test]', case
    if torch_from:
        assert calls[:-1] == [f"-m pip install --quiet --extra-index-url {torch_from} torch>=2.2"], case
    else:
        assert calls[:-1] == [], case
