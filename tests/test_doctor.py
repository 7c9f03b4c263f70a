"""`course doctor` checks every package the lessons import and says what to do about each."""
import ast
import json
import sys
import types

import torch

from course_utils import config
from helpers import ROOT

# Imported by course_utils but installed with another package or only by the grader/tests.
# tomli: only on Python 3.10 (3.11 has tomllib), where lesson 13's run script asks for it by name
NOT_LESSON_PACKAGES = {"course_utils", "in_kernel", "httpx", "ipykernel", "google", "tomli"}


def _third_party_imports(sources):
    found = set()
    for source in sources:
        source = "\n".join(line[:len(line) - len(line.lstrip())] + "pass"
                           if line.lstrip().startswith(("!", "%")) else line
                           for line in source.split("\n"))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names} - NOT_LESSON_PACKAGES


def test_doctor_knows_every_package_the_lessons_import():
    cells = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for p in sorted((ROOT / "solutions").glob("*.ipynb"))
             for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code"]
    library = [p.read_text() for p in (ROOT / "course_utils").rglob("*.py")]
    imported = _third_party_imports(cells) | _third_party_imports(library)
    assert imported <= set(config.LESSON_PACKAGES), imported - set(config.LESSON_PACKAGES)
    report = config.doctor_report(check_network=False)
    assert all(report[m] != "MISSING" for m in config.LESSON_PACKAGES)   # this venv has them all


def test_doctor_says_what_to_do_for_each_missing_package(monkeypatch, capsys):
    real = config._package_version
    monkeypatch.setattr(config, "_package_version",
                        lambda m, pip: "MISSING" if m in ("mnist1d", "openai") else real(m, pip))
    config.doctor(check_network=False)
    out = capsys.readouterr().out
    assert "mnist1d is missing (needed for the MNIST-1D data" in out and "pip install mnist1d" in out
    assert "openai is missing" in out and "All set" not in out
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    config.doctor(check_network=False)
    out = capsys.readouterr().out
    assert "!pip install -q mnist1d" in out and "Restart" in out


def test_doctor_on_colab_without_gpu_says_how_to_get_one(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config.doctor(check_network=False)
    out = capsys.readouterr().out
    assert "No GPU is attached" in out and "T4 GPU" in out and "All set" not in out
    monkeypatch.delitem(sys.modules, "google.colab")
    config.doctor(check_network=False)
    assert "All set" in capsys.readouterr().out


def test_use_drive_cache_points_the_cache_at_drive_on_colab(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COURSE_CACHE", raising=False)
    before = config.cache_dir()
    assert config.use_drive_cache() == before            # off Colab: nothing changes
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=lambda point: mounted.append(point))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    path = config.use_drive_cache(mount_point=str(tmp_path))
    assert mounted == [str(tmp_path)] and path == tmp_path / "MyDrive" / "dark-knowledge-cache"
    assert config.cache_dir() == path and path.is_dir()
    assert "Google Drive" in capsys.readouterr().out
