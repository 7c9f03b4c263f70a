"""Colab works or says why: the set-up cell, the repository in one place, GPU metadata, and a
simulated Colab install in which nothing preinstalled is upgraded."""
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from course_utils import build, config
from helpers import LESSONS, ROOT, SOLUTIONS

GPU_LESSONS = {"02", "03", "04", "05", "06", "07", "08", "10", "11", "13"}


def _setup_source():
    return build.setup_cell_source(config.COURSE_REPO)


def _run_setup_cell(monkeypatch, returncode, stderr="", importable=True):
    """Run the set-up cell as Colab would (google.colab imported), pip replaced by a stub."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []

    def fake_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, returncode, stdout="", stderr=stderr)

    monkeypatch.setattr(subprocess, "run", fake_run)
    if not importable:
        monkeypatch.setitem(sys.modules, "course_utils", None)    # import raises ImportError
    exec(compile(_setup_source(), "setup-cell", "exec"), {})
    return calls


def test_setup_cell_installs_from_the_repo_and_says_so(monkeypatch, capsys):
    calls = _run_setup_cell(monkeypatch, 0)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q",
                      f"dark-knowledge @ git+https://github.com/{config.COURSE_REPO}"]]
    assert "course_utils is ready" in capsys.readouterr().out


@pytest.mark.parametrize("returncode, importable, what", [
    (1, True, "pip could not install"),
    (0, False, "`import course_utils` failed"),
])
def test_failed_setup_prints_one_paragraph_of_guidance_and_stops(monkeypatch, returncode,
                                                                  importable, what):
    with pytest.raises(RuntimeError) as raised:
        _run_setup_cell(monkeypatch, returncode, stderr="ERROR: Repository not found.",
                        importable=importable)
    error = raised.value
    assert type(error).__name__ == "CourseSetupError"
    shown = error._render_traceback_()                 # what IPython shows instead of a traceback
    assert shown == [str(error)]
    text = shown[0]
    for words in (what, "Repository not found", "Runtime → Restart session", "fork",
                  "OWNER/NAME", "REPO above", "Download ZIP", "dark-knowledge.zip", "stops here"):
        assert words in text, words
    assert "Traceback" not in text


def test_setup_error_is_shown_by_ipython_without_a_traceback(monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: subprocess.CompletedProcess(
        args, 1, stdout="", stderr="ERROR: could not clone"))
    result = shell.run_cell(_setup_source())
    out = capsys.readouterr()
    assert not result.success
    text = out.out + out.err
    assert "The course could not be set up" in text and "Runtime → Restart session" in text
    assert "Traceback" not in text and "subprocess" not in text


def test_uploaded_zip_is_installed_first(monkeypatch, tmp_path):
    source = _setup_source().replace('"/content/dark-knowledge*.zip"',
                                     repr(str(tmp_path / "dark-knowledge*.zip")))
    assert source != _setup_source()
    (tmp_path / "dark-knowledge-main.zip").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args) or
                        subprocess.CompletedProcess(args, 0, "", ""))
    exec(compile(source, "setup-cell", "exec"), {})
    assert calls[0][-1] == f"dark-knowledge @ {(tmp_path / 'dark-knowledge-main.zip').as_uri()}"


def test_setup_cell_does_nothing_off_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip ran off Colab"))
    exec(compile(_setup_source(), "setup-cell", "exec"), {})


@pytest.mark.parametrize("path", sorted(LESSONS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_lessons_ask_colab_for_a_gpu_where_they_train(path):
    meta = nbformat.read(path, as_version=4).metadata
    if path.name[:2] in GPU_LESSONS:
        assert meta.get("accelerator") == "GPU" and meta["colab"]["gpuType"] == "T4"
    else:
        assert "accelerator" not in meta


def test_the_repository_lives_in_one_place():
    hits = []
    for path in [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *(ROOT / "course_utils").rglob("*.py"),
                 *SOLUTIONS.glob("*.ipynb"), *LESSONS.glob("*.ipynb")]:
        text = path.read_text(encoding="utf-8")
        hits += [path.name for _ in range(text.count(config.COURSE_REPO))]
    config_hits = [h for h in hits if h == "config.py"]
    assert config_hits == ["config.py"], "COURSE_REPO is written once, in config.py"
    # everywhere else it is stamped by `course build`, which --check verifies
    assert build.build_all(SOLUTIONS, LESSONS, check=True) == []


def test_course_build_repo_stamps_a_fork(tmp_path, monkeypatch):
    shutil.copytree(SOLUTIONS, tmp_path / "solutions")
    shutil.copytree(LESSONS, tmp_path / "lessons")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    fake_config = tmp_path / "config.py"
    fake_config.write_text(Path(config.__file__).read_text())
    monkeypatch.setattr(config, "__file__", str(fake_config))
    monkeypatch.setattr(config, "COURSE_REPO", config.COURSE_REPO)
    monkeypatch.chdir(tmp_path)
    assert build.main(["--repo", "someone/my-fork"]) == 0
    assert 'COURSE_REPO = "someone/my-fork"' in fake_config.read_text()
    for folder in ("solutions", "lessons"):
        nb = nbformat.read(tmp_path / folder / "00_welcome.ipynb", as_version=4)
        assert "github/someone/my-fork/blob/main/lessons/00_welcome.ipynb" in nb.cells[0].source
        assert 'REPO = "someone/my-fork"' in nb.cells[1].source
    readme = (tmp_path / "README.md").read_text()
    assert "github/someone/my-fork/blob/main/lessons/08_" in readme
    assert build.build_all("solutions", "lessons", check=True, repo="someone/my-fork") == []
    assert build.main(["--repo", "not a repo"]) == 2


# ---------------------------------------------------------------------------------------
# A simulated Colab: torch and ipywidgets 7 already there; the set-up cell's pip command,
# resolved with --dry-run against this checkout, must not upgrade anything preinstalled.
# ---------------------------------------------------------------------------------------
COLAB_PREINSTALLED = ["ipywidgets==7.7.1", "widgetsnbextension==3.6.10", "jupyterlab-widgets==1.1.11",
                      "ipython==7.34.0"]


def _pip(python, *args, timeout=300):
    return subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory):
    """A venv that sees this environment's packages (torch among them) through a .pth file,
    with Colab's older ipywidgets and IPython installed in it (they come first on its path)."""
    root = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "zz_outer_env.pth").write_text("\n".join(ours) + "\n")
    got = _pip(python, "install", "-q", "--no-deps", "--target", str(site), "--upgrade",
               *COLAB_PREINSTALLED)
    if got.returncode != 0:
        pytest.skip(f"cannot fetch Colab's package versions (offline?): {got.stderr.strip()[-300:]}")
    return python


def test_colab_install_upgrades_nothing_preinstalled(colab_venv, tmp_path):
    python = colab_venv
    listed = _pip(python, "list", "--format=json")
    assert listed.returncode == 0, listed.stderr
    before = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listed.stdout)
              if p["name"] != "dark-knowledge"}     # the checkout itself, installed here for the tests
    assert before["ipywidgets"].startswith("7.") and before["ipython"].startswith("7.")
    assert "torch" in before
    # The set-up cell's requirement, pointed at this checkout instead of GitHub.
    assert '"install", "-q", f"dark-knowledge @ {source}"' in _setup_source()
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    report = tmp_path / "report.json"
    got = subprocess.run([str(python), "-m", "pip", "install", "--dry-run", "--no-build-isolation",
                          "--report", str(report), "-q", f"dark-knowledge @ {ROOT.as_uri()}"],
                         capture_output=True, text=True, timeout=300, env=env)
    if got.returncode != 0 and ("Could not find" in got.stderr or "connection" in got.stderr.lower()):
        pytest.skip(f"pip could not resolve offline: {got.stderr.strip()[-300:]}")
    assert got.returncode == 0, got.stderr[-2000:]
    installs = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    upgraded = {name: (before[name], new) for name, new in installs.items() if name in before}
    assert not upgraded, f"the Colab install would replace preinstalled packages: {upgraded}"
    assert "dark-knowledge" in installs
