"""`course grade` where the machine is not ready: never a silent zero.

No bubblewrap: a refusal with the install command. A sandbox that cannot run the release: a
refusal before anything is graded. A sandbox that fails for one submission: status `error`,
empty scores, first in the report, a non-zero exit. And what the sandbox lets a learner see.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.grading import main as grade_main, pipeline, sandbox

ROOT = Path(__file__).resolve().parents[1]
CAPS = sandbox.capabilities()
needs_sandbox = pytest.mark.skipif(not CAPS["sandbox"], reason=f"no grading sandbox here: {CAPS['problem']}")


@pytest.fixture
def submitted(tmp_path):
    subs = tmp_path / "submitted"
    subs.mkdir()
    shutil.copy(ROOT / "lessons" / "00_welcome.ipynb", subs / "ada.ipynb")
    shutil.copy(ROOT / "lessons" / "00_welcome.ipynb", subs / "bob.ipynb")
    return subs, tmp_path / "grades"


def _grade(subs, out, *extra):
    return grade_main(["--lesson", "00", "--release", str(ROOT / "lessons"), "--submissions",
                       str(subs), "--out", str(out), "--no-progress", *extra])


@pytest.fixture
def fresh_probe(monkeypatch):
    monkeypatch.setattr(sandbox, "_PROBE", None)
    yield
    sandbox._PROBE = None


def test_without_bubblewrap_grading_refuses_with_the_install_command(submitted, monkeypatch, capsys,
                                                                     fresh_probe):
    real_which = shutil.which
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, *a, **k: None if name == "bwrap"
                        else real_which(name, *a, **k))
    subs, out = submitted
    assert _grade(subs, out) == 2
    err = capsys.readouterr().err
    assert "bubblewrap" in err and "apt install bubblewrap" in err and "--no-sandbox" in err
    assert not (out / "grades.csv").exists()


@needs_sandbox
def test_a_broken_sandbox_fails_the_self_test_and_grades_nothing(submitted, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "RUNNER", Path("/nonexistent/runner.py"))
    subs, out = submitted
    assert _grade(subs, out) == 2
    err = capsys.readouterr().err
    assert "self-test failed" in err and "nothing was graded" in err
    assert not (out / "grades.csv").exists()


def test_a_sandbox_failure_is_an_error_never_a_zero(submitted, monkeypatch, capsys):
    """The self-test passes, then the sandbox fails for the first learner only."""
    calls = []

    def flaky(release, notebook, limits, hide, use_sandbox=True):
        if notebook is release.notebook:  # the self-test
            return {"ok": True, "cells": [{"index": 1, "learner": False}], "events": []}
        calls.append(1)
        if len(calls) == 1:
            return {"ok": False, "fault": "sandbox",
                    "events": ["bwrap: Creating new namespace failed: No space left on device"]}
        return {"ok": True, "answers": {}, "cells": [], "events": [], "fault": None}

    monkeypatch.setattr(pipeline, "run_in_sandbox", flaky)
    monkeypatch.setattr(sandbox, "capabilities", lambda use_sandbox=True: {
        "sandbox": True, "root": False, "bwrap": "bwrap", "problem": None, "cgroup": None,
        "warnings": []})
    subs, out = submitted
    assert _grade(subs, out, "--workers", "1") == pipeline.EXIT_ERRORS
    err = capsys.readouterr().err
    assert "NOT GRADED (1): ada" in err
    rows = {r["learner"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["ada"]["status"] == "error" and rows["ada"]["q1"] == "" and rows["ada"]["total"] == ""
    assert rows["bob"]["status"] == "graded" and rows["bob"]["total"] == "0"
    report = (out / "report.md").read_text()
    assert report.index("NOT GRADED") < report.index("## Summary")
    assert "No space left on device" in report and "not the learner's doing" in report
    assert report.index("### ada") < report.index("### bob")
    feedback = (out / "feedback" / "ada.md").read_text()
    assert "Not graded yet" in feedback and "Score" not in feedback


@needs_sandbox
def test_the_sandbox_shows_python_and_the_package_but_not_the_course(tmp_path):
    secret = tmp_path / "hidden-submissions"
    secret.mkdir()
    probe = ("import os, sys, json, course_utils.grading.encoding as e; "
             f"print(json.dumps([sorted(os.listdir({str(ROOT)!r})), os.path.exists({str(secret)!r}), "
             "os.path.exists(os.path.expanduser('~root/.bashrc')), sys.version_info[0]]))")
    command = sandbox.bwrap_command(CAPS["bwrap"], CAPS["root"], [str(secret)], [sys.executable, "-c", probe])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listing, sees_secret, sees_home, major = __import__("json").loads(done.stdout)
    assert "course_utils" in listing
    assert not {"solutions", "lessons", "tests", "README.md"} & set(listing), listing
    assert not sees_secret and not sees_home and major == 3


@needs_sandbox
def test_untrusted_no_sandbox_runs_say_so_everywhere(submitted, tmp_path, capsys):
    subs, out = submitted
    (subs / "bob.ipynb").unlink()
    assert _grade(subs, out, "--no-sandbox") == 0
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert rows[0]["status"] == "graded (no sandbox)"
    assert "NOT SANDBOXED" in (out / "report.md").read_text()
    assert "NOT SANDBOXED" in (out / "feedback" / "ada.md").read_text()
    assert "NOT SANDBOXED" in capsys.readouterr().err


def test_a_self_test_out_of_address_space_says_to_raise_memory(submitted, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "run_in_sandbox", lambda *a, **k: {
        "ok": True, "events": [], "cells": [
            {"index": 1, "learner": False,
             "error": "ImportError: libtorch_cuda.so: failed to map segment from shared object"}]})
    monkeypatch.setattr(sandbox, "capabilities", lambda use_sandbox=True: {
        "sandbox": True, "root": False, "bwrap": "bwrap", "problem": None, "cgroup": None,
        "warnings": []})
    subs, out = submitted
    assert _grade(subs, out) == 2
    err = capsys.readouterr().err
    assert "self-test failed" in err and "--memory 16000" in err
    assert not (out / "grades.csv").exists()


def test_the_cache_copied_into_the_sandbox_skips_entries_being_written(tmp_path, monkeypatch):
    """Grading while a notebook (or another test process) writes the course cache: entries being
    written and build locks stay behind, and a file that vanishes mid-copy is an event, not a
    crash of the grading."""
    import shutil
    from course_utils.grading.runner import seed_cache
    seed = tmp_path / "cache"
    (seed / "teachers" / "t-1").mkdir(parents=True)
    (seed / "teachers" / "t-1" / "model.pt").write_bytes(b"weights")
    (seed / "teachers" / ".t-2.abc.tmp").mkdir()
    (seed / "teachers" / ".t-1.lock").write_text("")
    events = []
    seed_cache(str(seed), tmp_path / "work", events)
    copied = sorted(p.name for p in (tmp_path / "work" / "teachers").iterdir())
    assert copied == ["t-1"] and events == []

    def vanished(*args, **kwargs):
        raise shutil.Error([("a", "b", "No such file or directory")])
    monkeypatch.setattr(shutil, "copytree", vanished)
    seed_cache(str(seed), tmp_path / "work2", events)
    assert len(events) == 1 and "changed while it was copied" in events[0]
