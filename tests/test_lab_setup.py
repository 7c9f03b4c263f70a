"""`make lab` opens lesson 00 (from the printed URL too) with the course's JupyterLab settings."""
import json
import runpy

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
    assert "--config=$(CURDIR)/jupyter/jupyter_lab_config.py" in lab


def test_ci_installs_what_the_browser_test_needs():
    import tomllib
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -q chromium" in ci and "COURSE_ARTIFACTS" in ci
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(r.startswith("playwright") for r in project["project"]["optional-dependencies"]["test"])
    markers = project["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("browser:") for m in markers)
