"""The runner: the grader's process inside the sandbox (see :mod:`.sandbox`).

``python runner.py notebook|calls`` reads one job as JSON on stdin and writes one result as
JSON on its stdout. It is started by :func:`.sandbox.run_job`, inside bubblewrap; it runs as
a script (not ``-m``) so that importing ``course_utils`` (and torch) is left to the kernel.

* ``notebook`` -- execute a restored submission cell by cell in a Jupyter kernel with time,
  memory, process and output limits, extracting the answers after every exercise cell;
* ``calls`` -- call a learner's function on the judge's test cases in a limited process.

As root (in the sandbox, with a few capabilities), the learner's processes run as an
unprivileged uid of their own; as an ordinary user they share the runner's uid, and the
runner makes itself non-dumpable so they cannot read its memory or its file descriptors.
Either way the runner is the only process of the sandbox's process tree that is not the
learner's, so "kill the learner" is ``kill(-1)`` from here.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__:
    from .in_kernel import AUDIT_STARTUP, EXTRACT_CELL, audit_events
else:  # run as a script (see sandbox.run_job): import the sibling module by itself
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from in_kernel import AUDIT_STARTUP, EXTRACT_CELL, audit_events


# ----------------------------------------------------------------------------------------
# The learner's processes: limits, uid, kills
# ----------------------------------------------------------------------------------------
def _make_undumpable() -> None:
    """Processes of the same uid may not read our memory, fds or environment (prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def _demote(job: dict, chown: list):
    """The preexec function of the learner's process: limits, then an unprivileged uid."""
    uid, limits = job["uid"], job["limits"]

    def preexec():
        # RLIMIT_DATA, not RLIMIT_AS: it counts what the learner's code allocates (heap, private
        # writable mappings), not the shared libraries mapped from disk. A CUDA build of torch
        # maps several GB of those, and under a 4 GB address space its import failed.
        for kind, value in [(resource.RLIMIT_DATA, limits["memory_mb"] << 20),
                            (resource.RLIMIT_FSIZE, 64 << 20),
                            (resource.RLIMIT_CORE, 0),
                            (resource.RLIMIT_CPU, int(limits["total_s"]) + 5),
                            (resource.RLIMIT_NPROC, limits["max_procs"])]:
            try:
                resource.setrlimit(kind, (value, value))
            except (ValueError, OSError):
                pass
        if job.get("demote"):
            for path in chown:
                try:
                    os.chown(path(), uid, uid)
                except (OSError, TypeError):
                    pass
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        os.umask(0o077)
    return preexec


def _others() -> list[int]:
    """Pids of the sandbox's processes other than its init (1) and this runner."""
    me, pids = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me) and _state(int(entry)) not in ("Z", None):
            pids.append(int(entry))
    return pids


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _state(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[0] if fields else None


def kill_learner(job: dict, pgid: int | None = None) -> None:
    """Kill every process the learner started (fork bombs included)."""
    if job.get("sandboxed"):
        # In the sandbox's own pid namespace every other process is the learner's.
        for _ in range(200):
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            if not _others():
                break
            time.sleep(0.005)
    elif pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


def kill_strays(job: dict, kernel_pid: int | None) -> int:
    """Kill the learner's processes other than the kernel (forks must not outlive a cell)."""
    if not job.get("sandboxed") or not kernel_pid:
        return 0
    killed = 0
    for _ in range(20):
        found = 0
        for pid in _others():
            if pid == kernel_pid or _parent(pid) == os.getpid():
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                found += 1
            except OSError:
                continue
        killed += found
        if not found:
            break
        time.sleep(0.05)
    return killed


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def learner_env(job: dict, work: Path) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
           "IPYTHONDIR": str(work / ".ipython"), "MPLCONFIGDIR": str(work / ".mpl"),
           "COURSE_CACHE": str(work / ".course_cache"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "TQDM_DISABLE": "1"}
    if job.get("profile"):
        env["COURSE_PROFILE"] = job["profile"]
    return env


def make_workdir(job: dict) -> Path:
    """The learner's working folder: in the sandbox's private /tmp (else a fresh temp folder)."""
    base = Path("/tmp") if job.get("sandboxed") else Path(tempfile.mkdtemp(prefix="course-grade-"))
    work = base / "work"
    work.mkdir(parents=True, exist_ok=True)
    if job.get("demote"):
        os.chown(work, job["uid"], job["uid"])
    return work


SEED_LIMIT = 300 << 20   # bytes of cached teachers copied into each sandbox at most


def seed_cache(seed: str | None, target: Path, events: list) -> None:
    """Start the learner's cache as a copy of the instructor's (teachers are not retrained)."""
    if not seed or not Path(seed).is_dir():
        return
    import shutil
    if sum(_size(p) for p in Path(seed).rglob("*") if p.is_file() and not p.is_symlink()) > SEED_LIMIT:
        events.append(f"the course cache {seed} is larger than {SEED_LIMIT >> 20} MB: not copied "
                      f"into the sandbox, so teachers were trained there again")
        return
    # Entries being written (.tmp) and build locks stay behind. A notebook running beside the
    # grading may still replace an entry while it is copied: what was copied is kept, and an
    # entry that was missed is built again in the sandbox.
    try:
        shutil.copytree(seed, target, symlinks=False, dirs_exist_ok=True,
                        ignore=lambda folder, names: [n for n in names
                                                      if n.endswith((".tmp", ".lock"))])
    except shutil.Error as error:
        events.append(f"{len(error.args[0])} file(s) of the course cache changed while it was "
                      "copied into the sandbox; what they held is built again there")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:   # replaced or removed since it was listed
        return 0


def _chown_tree(folder: Path, uid: int) -> None:
    for path, _, files in os.walk(folder):
        os.chown(path, uid, uid)
        for name in files:
            os.chown(os.path.join(path, name), uid, uid)


def _read_capped(path: Path, limit: int):
    try:
        if path.stat().st_size > limit:
            return None, f"the answers are larger than {limit >> 20} MB"
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as error:
        return None, f"the answers could not be read ({type(error).__name__})"


# ----------------------------------------------------------------------------------------
# Mode "notebook"
# ----------------------------------------------------------------------------------------
def is_learner_cell(cell) -> bool:
    """An answer cell, or a cell the learner added (release cells have their own limit)."""
    return "exercise" in cell.get("metadata", {}).get("tags", []) or \
        str(cell.get("id", "")).startswith("added-")


class NotebookRun:
    """One submission executed in a kernel: the steps of :func:`run_notebook`, in order."""

    def __init__(self, job: dict):
        import nbformat
        self.job, self.limits = job, job["limits"]
        self.events, self.warnings, self.cells, self.answers = [], [], [], {}
        self.timing, self.t0 = {}, time.monotonic()
        self.nb = nbformat.from_dict(job["notebook"])
        self.state = {"total_deadline": self.t0 + self.limits["total_s"], "cell_deadline": None}
        self.fault = None           # set when the run failed for a reason not the learner's
        self.truncated = False

    # 1. the working folder, the audit hook and the answers' files
    def prepare(self) -> None:
        os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="rt-")
        os.chmod(os.environ["JUPYTER_RUNTIME_DIR"], 0o711)
        self.work = make_workdir(self.job)
        nonce = self.job["nonce"]
        self.answers_path = self.work / f".answers-{nonce}.json"
        self.audit_path = self.work / f".audit-{nonce}.log"
        startup = self.work / ".ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-course-audit.py").write_text(AUDIT_STARTUP.format(
            log_path=str(self.audit_path),
            kept=list(self.job.get("visible", [])) + list(self.job.get("hide", []))))
        seed_cache(self.limits.get("cache_seed"), self.work / ".course_cache", self.events)
        if self.job.get("demote"):
            _chown_tree(self.work, self.job["uid"])

    # 2. a notebook client that caps the output it keeps
    def make_client(self):
        import nbformat
        from nbclient import NotebookClient
        cap, run = self.limits["output_bytes"], self

        class Client(NotebookClient):
            used = 0

            def output(self, outs, msg, display_id, cell_index):
                size = len(json.dumps(msg.get("content", {}), default=str))
                if Client.used + size > cap:
                    if not run.truncated:
                        run.truncated = True
                        outs.append(nbformat.v4.new_output(
                            "stream", name="stderr", text=f"[output cut: more than {cap} bytes]\n"))
                    return None
                Client.used += size
                return super().output(outs, msg, display_id, cell_index)

        self.client = Client(self.nb, timeout=self.limits["cell_s"], interrupt_on_timeout=True,
                             allow_errors=True, kernel_name="python3",
                             startup_timeout=self.limits.get("startup_s", 90),
                             shutdown_kernel="immediate",
                             resources={"metadata": {"path": str(self.work)}}, record_timing=False)
        self.extract = nbformat.v4.new_code_cell(EXTRACT_CELL.format(
            names=self.job["names"], path=str(self.answers_path), module=self.job.get("module", ""),
            audit=str(self.audit_path)))

    # 3. the watchdog: kills the learner's processes when a cell ignores its time limit
    def watchdog(self, stop: threading.Event) -> None:
        grace = 5.0
        while not stop.wait(0.25):
            now = time.monotonic()
            late_cell = self.state.get("cell_deadline") and now > self.state["cell_deadline"] + grace
            late_total = now > self.state["total_deadline"] + grace
            if late_cell or late_total:
                self.state["killed"] = "the whole run" if late_total else f"cell {self.state.get('cell')}"
                kill_learner(self.job, self.state.get("pgid"))
                self.state["cell_deadline"] = None

    # 4. one cell
    def run_cell(self, index: int, cell) -> None:
        remaining = self.state["total_deadline"] - time.monotonic()
        learner_cell = is_learner_cell(cell)
        allowed = self.limits["cell_s"] if learner_cell else max(
            self.limits["cell_s"], self.limits.get("release_cell_s", 0))
        self.client.timeout = max(1, int(min(allowed, remaining)))
        self.state.update(cell=index + 1, cell_deadline=time.monotonic() + self.client.timeout)
        started = time.monotonic()
        try:
            self.client.execute_cell(cell, index)
        finally:
            self.state["cell_deadline"] = None
        seconds = time.monotonic() - started
        info = {"index": index, "id": cell.get("id"), "seconds": round(seconds, 2),
                "learner": learner_cell}
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            info["error"] = f"{errors[-1].get('ename', '')}: {str(errors[-1].get('evalue', ''))[:200]}"
        if seconds >= self.client.timeout - 0.5:
            self.events.append(f"cell {index + 1} ran past its time limit ({self.client.timeout} s) "
                               f"and was interrupted")
        self.cells.append(info)
        if learner_cell:
            strays = kill_strays(self.job, self.state.get("pgid"))
            if strays:
                self.events.append(f"cell {index + 1} left {strays} process(es) running: killed")
            self.snapshot()

    # 5. the answers, read back from the kernel after each exercise cell and at the end
    def snapshot(self) -> None:
        nb, extract = self.nb, self.extract
        extract.outputs = []
        nb.cells.append(extract)  # nbclient stores the cell back at its index
        remaining = self.state["total_deadline"] - time.monotonic()
        self.client.timeout = max(5, int(min(60, remaining + 10)))
        try:
            self.client.execute_cell(extract, len(nb.cells) - 1, store_history=False)
        finally:
            nb.cells.pop()
        failed = [o for o in extract.get("outputs", []) if o.get("output_type") == "error"]
        if failed:
            self.events.append(f"the answers could not be saved after cell {self.state.get('cell', 0)}: "
                               f"{failed[0].get('ename')}: {str(failed[0].get('evalue'))[:200]}")
        data, problem = _read_capped(self.answers_path, 32 << 20)
        if isinstance(data, dict):
            self.answers.clear()
            self.answers.update(data)
        elif problem:
            self.events.append(problem)

    # 6. every cell, under the limits
    def execute(self) -> None:
        from nbclient.exceptions import DeadKernelError
        stop = threading.Event()
        started = False
        try:
            preexec = _demote(self.job, [lambda: self.client.km.connection_file])
            with self.client.setup_kernel(env=learner_env(self.job, self.work), preexec_fn=preexec,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                started = True
                try:
                    self.state["pgid"] = self.client.km.provisioner.process.pid
                except AttributeError:
                    pass
                self.timing["kernel_started"] = time.monotonic() - self.t0
                threading.Thread(target=self.watchdog, args=(stop,), daemon=True).start()
                for index, cell in enumerate(self.nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if self.state["total_deadline"] <= time.monotonic():
                        self.events.append(f"stopped before cell {index + 1}: the total time "
                                           f"limit ({self.limits['total_s']} s) was reached")
                        break
                    self.run_cell(index, cell)
                self.snapshot()
                self.timing["executed"] = time.monotonic() - self.t0
        except DeadKernelError:
            self.events.append(f"the kernel died at cell {self.state.get('cell')} (out of memory, "
                               f"killed for ignoring a time limit, or crashed); answers up to "
                               f"then were kept")
        except Exception as error:  # noqa: BLE001 - whatever the learner did, report it
            if not started:
                self.fault = f"the Jupyter kernel could not start: {type(error).__name__}: {str(error)[:300]}"
            self.events.append(f"execution stopped at cell {self.state.get('cell')}: "
                               f"{type(error).__name__}: {str(error)[:300]}")
        finally:
            stop.set()
            kill_learner(self.job, self.state.get("pgid"))
            self.timing["cleaned_up"] = time.monotonic() - self.t0

    # 7. what happened, for the report
    def result(self) -> dict:
        try:
            with open(self.audit_path, encoding="utf-8", errors="replace") as f:
                self.events.extend(audit_events(f.read(1 << 16)))
        except OSError:
            pass
        if self.state.get("killed"):
            self.events.append(f"{self.state['killed']} ignored its time limit: all its processes "
                               f"were killed")
        if self.truncated:
            self.events.append(f"output was cut after {self.limits['output_bytes']} bytes")
        release_error = self._release_error_before_learner()
        if release_error and not self.fault:
            self.fault = release_error
        return {"ok": True, "fault": self.fault, "answers": self.answers, "cells": self.cells,
                "events": self.events, "warnings": self.warnings, "notebook": self.nb,
                "timing": self.timing}

    def _release_error_before_learner(self) -> str | None:
        """An error in the lesson's own cells before any learner code ran is not the learner's."""
        for info in self.cells:
            if info["learner"]:
                return None
            if info.get("error"):
                return (f"the lesson's own cell {info['index'] + 1} failed before any answer "
                        f"ran: {info['error']}")
        return None


def run_notebook(job: dict) -> dict:
    """Execute a (restored) notebook cell by cell in a limited kernel; extract the answers."""
    run = NotebookRun(job)
    run.prepare()
    run.make_client()
    run.execute()
    return run.result()


# ----------------------------------------------------------------------------------------
# Mode "calls"
# ----------------------------------------------------------------------------------------
def run_calls(job: dict) -> dict:
    """Call a learner's function on the judge's cases, in a limited process of its own."""
    work = make_workdir(job)
    events: list = []
    seed_cache(job["limits"].get("cache_seed"), work / ".course_cache", events)
    if job.get("demote"):
        _chown_tree(work, job["uid"])
    out_path = work / f".calls-{job['nonce']}.json"
    spec = {k: job[k] for k in ("imports", "source", "name", "cases", "batch", "module", "problem",
                                "answers") if k in job}
    spec["out"] = str(out_path)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.calls"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=str(work),
                                env=learner_env(job, work), start_new_session=True,
                                preexec_fn=_demote(job, []))
    except OSError as error:
        return {"ok": False, "fault": f"the function could not be called: {error}", "events": []}
    try:
        proc.communicate(json.dumps(spec).encode(), timeout=job["limits"]["total_s"])
    except subprocess.TimeoutExpired:
        events.append(f"calling the function took more than {job['limits']['total_s']} s")
    kill_learner(job, proc.pid)
    data, problem = _read_capped(out_path, 32 << 20)
    if problem:
        events.append(problem)
    return {"ok": True, "calls": data if isinstance(data, dict) else None, "events": events,
            "warnings": []}


def main() -> None:
    _make_undumpable()
    # Our result goes to the real stdout; anything else printed here goes to stderr.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    job = json.loads(sys.stdin.read())
    try:
        result = {"notebook": run_notebook, "calls": run_calls}[mode](job)
    except Exception as error:  # noqa: BLE001
        result = {"ok": False, "fault": f"the grader's runner failed: {type(error).__name__}: {error}",
                  "events": [f"the sandbox failed: {type(error).__name__}: {error}"]}
    with os.fdopen(result_fd, "w") as out:
        json.dump(result, out, default=str)


if __name__ == "__main__":
    main()
