"""Set-up files agree: environment.yml mirrors pyproject, CI pins the CPU torch, README commands."""
import re
import tomllib

from helpers import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_mirrors_pyproject():
    project = _pyproject()["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["lab"]) | \
        set(project["optional-dependencies"]["test"])
    text = (ROOT / "environment.yml").read_text().split("- pip:", 1)[1]
    listed = set(re.findall(r"^\s*-\s+([A-Za-z0-9_.\-\[\]]+(?:[<>=!~]=?[^\s#]+)?)\s*$", text, re.M))
    listed = {l for l in listed if not l.startswith(("python", "pip"))}
    assert {_name(r): r for r in wanted} == {_name(r): r for r in listed}, \
        "environment.yml must list exactly pyproject's dependencies (same bounds)"


def test_pyproject_has_lower_bounds_only():
    project = _pyproject()["project"]
    for req in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        assert "==" not in req and "<" not in req, f"{req}: lower bounds only (Colab keeps its torch)"


def test_ci_runs_make_test_with_cpu_torch_pin():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "torch==" in (ROOT / ".ci" / "constraints.txt").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme


def test_readme_lists_every_lesson_with_colab_badge():
    from course_utils.config import COURSE_REPO
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "lessons").glob("*.ipynb")):
        assert f"lessons/{path.name}" in readme
        assert f"github/{COURSE_REPO}/blob/main/lessons/{path.name}" in readme
