"""The grading run: read, restore, execute in the sandbox, judge, write (see the package docs)."""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..io import atomic_write_text
from .report import ERROR, UNSANDBOXED, feedback_markdown, grades_csv, report_markdown, summary_table

__all__ = ["grade", "main", "DEFAULT_LIMITS", "GradingSetupError"]

DEFAULT_LIMITS = {"cell_s": 60, "release_cell_s": 600, "total_s": 900, "memory_mb": 4096, "max_procs": 512,
                  "output_bytes": 1 << 20, "startup_s": 120}
MIN_MATCH = 0.5   # share of the release's cells a submission must have to count as that lesson
EXIT_ERRORS = 3   # some submissions could not be graded (status "error"): see report.md


class GradingSetupError(RuntimeError):
    """Grading cannot start here (no sandbox, a failing self-test): nothing was graded."""


def _learner_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "learner"


def find_submissions(submissions_dir: Path, release_name: str) -> dict[str, Path]:
    """``{learner: path}``: ``<learner>.ipynb`` files, or ``<learner>/<lesson>.ipynb``."""
    found: dict[str, Path] = {}
    for entry in sorted(submissions_dir.iterdir()):
        if entry.is_file() and entry.suffix == ".ipynb":
            found[_learner_name(entry.stem)] = entry
        elif entry.is_dir():
            candidates = [entry / f"{release_name}.ipynb"] + sorted(entry.glob("*.ipynb"))
            for candidate in candidates:
                if candidate.is_file():
                    found[_learner_name(entry.name)] = candidate
                    break
    return found


# ----------------------------------------------------------------------------------------
# One learner
# ----------------------------------------------------------------------------------------
class JudgeServer:
    """One ``judge --serve`` process per run; it forks a fresh judge for every submission."""

    def __init__(self, module: str):
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.judge",
                                      "--serve", module], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def judge(self, job: dict):
        with self.lock:
            if self.proc.poll() is not None:
                return None
            try:
                self.proc.stdin.write(json.dumps(job) + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
                return json.loads(line) if line else None
            except (OSError, ValueError):
                return None

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def _judge(release, answers: dict, limits: dict, hide: list, server=None) -> dict:
    job = {"module": release.module, "hidden": release.hidden_source, "answers": answers,
           "imports": release.imports, "limits": dict(limits, hide=hide)}
    if server is not None:
        result = server.judge(job)
        if isinstance(result, dict) and result.get("problems") is not None:
            return result
    try:
        proc = subprocess.run([sys.executable, "-m", "course_utils.grading.judge"],
                              input=json.dumps(job).encode(), capture_output=True,
                              timeout=limits["total_s"] + 120, env=dict(os.environ))
        result = json.loads(proc.stdout.decode() or "null")
        if not isinstance(result, dict):
            raise ValueError(proc.stderr.decode("utf-8", "replace")[-800:])
        return result
    except (subprocess.TimeoutExpired, ValueError) as error:
        return {"problems": None, "error": f"the judge failed: {str(error)[:800]}"}


def grade_one(learner: str, path: Path, release, limits: dict, hide: list,
              executed_dir: Path | None = None, server=None, sandbox: bool = True) -> dict:
    """Grade one submission; everything that goes wrong is reported in the record."""
    from .notebooks import read_submission, restore
    record = {"learner": learner, "file": str(path), "status": "graded", "problems": [],
              "events": [], "restored": [], "warnings": [], "seconds": 0.0}
    started = time.monotonic()
    nb, problem = read_submission(path)
    if nb is None:
        record.update(status="unreadable", reason=problem)
    elif not nb.cells:
        record.update(status="empty", reason="the notebook has no cells")
    else:
        merged, notes = restore(release, nb)
        if notes["matched"] < MIN_MATCH * notes["total"]:
            record.update(status="wrong lesson",
                          reason=f"this is not the notebook of {release.name}: only "
                                 f"{notes['matched']} of its {notes['total']} cells are there "
                                 f"(another lesson's notebook?)")
        else:
            record["restored"] = notes["restored"]
            if notes["missing_answers"]:
                record["events"].append(f"answer cell(s) {notes['missing_answers']} were missing: "
                                        f"graded as not attempted")
            if notes["added"]:
                record["events"].append(f"{notes['added']} code cell(s) you added were run too")
            _execute_and_judge(record, release, merged, limits, hide, executed_dir, server, sandbox)
    if record["status"] == "graded" and not sandbox:
        record["status"] = UNSANDBOXED
    if record["status"] == ERROR:
        record["problems"] = [_zero(name, vars_, "not graded: " + str(record.get("reason")))
                              for name, vars_ in release.problems.items()]
    elif not record["status"].startswith("graded") or not record["problems"]:
        record["problems"] = [_zero(name, vars_, record.get("reason", "not graded"))
                              for name, vars_ in release.problems.items()]
    record["total"] = sum(p["score"] for p in record["problems"])
    record["seconds"] = round(time.monotonic() - started, 1)
    return record


def _zero(name, vars_, why):
    return {"name": name, "vars": vars_, "status": "not graded", "message": why, "hidden": [],
            "hidden_count": 0, "score": 0}


def run_in_sandbox(release, notebook, limits: dict, hide: list, sandbox: bool = True) -> dict:
    """Execute one notebook of ``release`` in the sandbox; the runner's result."""
    from .sandbox import next_uid, run_job

    names = sorted({v for vars_ in release.problems.values() for v in vars_})
    job = {"notebook": notebook, "names": names, "module": release.module,
           "uid": next_uid(), "nonce": secrets.token_hex(8),
           "limits": limits, "hide": hide, "profile": limits.get("profile")}
    return run_job("notebook", job, timeout=limits["total_s"] + limits["startup_s"] + 60,
                   sandbox=sandbox)


def _execute_and_judge(record, release, merged, limits, hide, executed_dir, server=None,
                       sandbox=True):
    from .notebooks import checksum

    release_sum = checksum(release.path.read_text(encoding="utf-8"))
    result = run_in_sandbox(release, merged, limits, hide, sandbox)
    if result.get("fault"):
        record.update(status=ERROR, reason=_fault_reason(result))
        record["events"] += result.get("events", [])
        return
    record["events"] += result.get("events", [])
    record["warnings"] += result.get("warnings", [])
    record["cells"] = result.get("cells", [])
    record["errors"] = [f"cell {c['index'] + 1}: {c['error']}" for c in record["cells"] if c.get("error")]
    if not release.path.exists() or checksum(release.path.read_text(encoding="utf-8")) != release_sum:
        record["events"].append("THE RELEASE NOTEBOOK CHANGED while this submission ran")
    if executed_dir is not None and isinstance(result.get("notebook"), dict):
        try:
            atomic_write_text(executed_dir / f"{record['learner']}.ipynb",
                              json.dumps(result["notebook"], indent=1)[: 8 << 20])
        except OSError:
            pass
    verdict = _judge(release, result.get("answers") or {}, dict(limits, sandbox=sandbox), hide,
                     server)
    if verdict.get("problems") is None:
        record.update(status=ERROR, reason=f"the judge failed: {verdict.get('error')}")
        return
    record["problems"] = verdict["problems"]
    record["events"] += verdict.get("events", []) + verdict.get("unreadable", [])
    if verdict.get("hidden_error"):
        record["hidden_error"] = verdict["hidden_error"]


def _fault_reason(result: dict) -> str:
    fault = result.get("fault")
    if fault == "sandbox" or not isinstance(fault, str):
        fault = "; ".join(result.get("events", [])[:2]) or "the sandbox gave no result"
    return (f"{fault[:600]} -- not the learner's doing. Check that `course grade` can run the "
            f"release itself (it does so first) and that the machine is not out of memory.")


def self_test(release, limits: dict, hide: list, sandbox: bool = True) -> None:
    """Run the release notebook itself through the sandbox; raise if that fails.

    An unsolved release must run top to bottom with no error in the lesson's own cells. If
    it does not, the fault is the grader's set-up (sandbox, interpreter, course not
    importable), and grading every learner would only give each of them the same failure.
    """
    result = run_in_sandbox(release, release.notebook, limits, hide, sandbox)
    why = None
    if result.get("fault") or not result.get("ok", False):
        why = _fault_reason(result).split(" -- ")[0]
    else:
        errors = [f"cell {c['index'] + 1}: {c['error']}" for c in result.get("cells", [])
                  if c.get("error") and not c.get("learner")]
        if errors:
            why = "the lesson's own cells failed: " + "; ".join(errors[:3])
        elif not result.get("cells"):
            why = "no cell ran: " + "; ".join(result.get("events", [])[:2])
    if why:
        if any(word in why for word in ("MemoryError", "map segment", "allocate memory")):
            why += (f" -- the lesson's own cells need more than --memory {limits['memory_mb']} "
                    f"MB here: raise it, e.g. --memory 16000.")
        raise GradingSetupError(
            f"self-test failed: the released notebook {release.path.name} does not run in the "
            f"grading sandbox, so nothing was graded. {why}")


# ----------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------
def grade(release_dir, submissions_dir, out_dir, lesson: str, solutions_dir=None,
          workers: int = 2, limits: dict | None = None, progress: bool = True,
          keep_executed: bool = True, sandbox: bool = True, check_release: bool = True) -> dict:
    """Grade every submission of ``lesson``; write the CSV, feedback and report to ``out_dir``.

    Returns ``{"records": [...], "warnings": [...], "seconds": float, "problems": [...]}``.
    Raises :class:`GradingSetupError` (nothing graded) when no sandbox can run here or the
    release fails its self-test; ``sandbox=False`` grades trusted notebooks without one.
    """
    from .judge import graded, problems_of
    from .notebooks import ReleaseError, load_release
    from .sandbox import NO_SANDBOX_WARNING, capabilities
    import importlib

    caps = capabilities(sandbox)
    if sandbox and not caps["sandbox"]:
        raise GradingSetupError(caps["problem"])
    limits = dict(DEFAULT_LIMITS, **(limits or {}))
    limits.setdefault("profile", os.environ.get("COURSE_PROFILE"))
    started = time.monotonic()
    release = load_release(release_dir, lesson, solutions_dir)
    module = importlib.import_module(release.module)
    release.problems = {n: list(p.vars) for n, p in problems_of(module).items() if graded(p)}
    problem_names = list(release.problems)
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise ReleaseError(f"the submissions folder {submissions_dir} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions = find_submissions(submissions_dir, release.name)
    hide = [str(Path(p).resolve()) for p in (submissions_dir, out_dir, release_dir, solutions_dir)
            if p is not None]
    warnings = list(caps["warnings"])
    if check_release:
        self_test(release, limits, hide, sandbox)
    executed_dir = out_dir / "executed" if keep_executed else None
    records = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(submissions), desc=f"grading {release.name}", unit="notebook")
    server = JudgeServer(release.module)
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)))
    with pool:
        futures = {pool.submit(grade_one, learner, path, release, limits, hide, executed_dir,
                               server, sandbox): learner
                   for learner, path in submissions.items()}
        for future in as_completed(futures):
            learner = futures[future]
            try:
                record = future.result()
            except Exception as error:  # noqa: BLE001 - a bug of ours must not lose the others
                record = {"learner": learner, "status": ERROR,
                          "reason": f"the grader failed: {error!r}"[:300],
                          "problems": [_zero(n, v, "grader error") for n, v in release.problems.items()],
                          "total": 0, "events": [], "restored": [], "seconds": 0.0}
            records.append(record)
            feedback = feedback_markdown(record, release.name)
            if not sandbox:
                feedback = f"> **{NO_SANDBOX_WARNING}**\n\n" + feedback
            atomic_write_text(out_dir / "feedback" / f"{learner}.md", feedback)
            if bar is not None:
                bar.update(1)
    server.close()
    if bar is not None:
        bar.close()
    for record in records:
        for w in record.get("warnings", []):
            if w not in warnings:
                warnings.append(w)
    seconds = time.monotonic() - started
    atomic_write_text(out_dir / "grades.csv", grades_csv(records, problem_names))
    atomic_write_text(out_dir / "results.json", json.dumps(
        {"lesson": release.name, "problems": problem_names, "warnings": warnings,
         "seconds": seconds, "records": records}, indent=1, default=str))
    atomic_write_text(out_dir / "report.md",
                      report_markdown(records, release, warnings, seconds, problem_names))
    return {"records": records, "warnings": warnings, "seconds": seconds,
            "problems": problem_names}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="course grade", description="Grade submitted notebooks of one lesson in a sandbox.",
        epilog="Writes OUT/grades.csv, OUT/feedback/<learner>.md, OUT/report.md, "
               "OUT/results.json and OUT/executed/<learner>.ipynb. See docs/instructors.md.")
    parser.add_argument("--lesson", required=True, help="the lesson, e.g. 00 or 00_welcome")
    parser.add_argument("--release", default="lessons", help="the released lessons (default lessons/)")
    parser.add_argument("--submissions", required=True,
                        help="folder of <learner>.ipynb or <learner>/<lesson>.ipynb")
    parser.add_argument("--out", default="grades", help="where to write grades (default grades/)")
    parser.add_argument("--solutions", default=None,
                        help="solutions folder, for the hidden checks (cells tagged hidden-check)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_LIMITS["cell_s"],
                        help="seconds for each answer cell and each cell the learner added")
    parser.add_argument("--release-cell-timeout", type=int, default=DEFAULT_LIMITS["release_cell_s"],
                        help="seconds for the lesson's own cells (restored from the release)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_LIMITS["total_s"],
                        help="seconds for a whole notebook")
    parser.add_argument("--memory", type=int, default=DEFAULT_LIMITS["memory_mb"],
                        help="MB of memory the learner's code may allocate per process (RLIMIT_DATA)")
    parser.add_argument("--max-procs", type=int, default=DEFAULT_LIMITS["max_procs"],
                        help="processes and threads per submission")
    parser.add_argument("--max-output", type=int, default=DEFAULT_LIMITS["output_bytes"],
                        help="bytes of output kept per notebook")
    parser.add_argument("--profile", default=os.environ.get("COURSE_PROFILE", "ci"),
                        help="the course profile submissions run in (default ci: quick)")
    parser.add_argument("--cache", default=None,
                        help="a course cache (trained teachers) each submission starts from, as a "
                             "read-only copy; default: this course's cache; 'none' to train afresh")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run notebooks without bubblewrap, as yourself: ONLY for notebooks you "
                             "trust (every output then says so)")
    args = parser.parse_args(argv)
    from .notebooks import ReleaseError
    try:
        import ipykernel  # noqa: F401 - the kernel submissions run in
        import nbclient  # noqa: F401
    except ImportError as error:
        print(f"course grade needs {error.name}: install the course with "
              f"`pip install -e \".[lab]\"` (or `make lab`).", file=sys.stderr)
        return 2
    limits = {"cell_s": args.cell_timeout, "total_s": args.timeout, "memory_mb": args.memory,
              "output_bytes": args.max_output, "profile": args.profile,
              "max_procs": args.max_procs, "release_cell_s": args.release_cell_timeout}
    if args.cache != "none":
        from ..config import cache_dir
        limits["cache_seed"] = str(Path(args.cache).resolve() if args.cache else cache_dir())
    try:
        result = grade(args.release, args.submissions, args.out, args.lesson, args.solutions,
                       workers=args.workers, limits=limits, progress=not args.no_progress,
                       sandbox=not args.no_sandbox)
    except (ReleaseError, GradingSetupError, OSError, ImportError) as error:
        print(f"course grade: {error}", file=sys.stderr)
        return 2
    print()
    print(summary_table(result["records"], result["problems"]))
    for warning in result["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"\n{len(result['records'])} notebook(s) in {result['seconds']:.0f} s. "
          f"Grades: {Path(args.out) / 'grades.csv'}; report: {Path(args.out) / 'report.md'}")
    failed = [r["learner"] for r in result["records"] if r["status"] == ERROR]
    if failed:
        print(f"\nNOT GRADED ({len(failed)}): {', '.join(failed)} -- grading failed for reasons "
              f"that are not theirs; their scores are empty. See report.md.", file=sys.stderr)
        return EXIT_ERRORS
    return 0
