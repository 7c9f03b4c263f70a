"""Running a learner's code where it can do no harm.

The grader (parent) starts one *runner* process per job with :func:`run_job`. Where the
machine allows it, the runner lives in fresh Linux namespaces (``unshare``): its own network
(only a loopback: no network at all), its own process tree (when the runner ends, every
process the learner started ends with it: fork bombs included) and its own mounts (a private,
size-limited ``/tmp``; the submissions, grades, solutions and release folders hidden behind
empty tmpfs mounts). The runner then starts the learner's code -- a Jupyter kernel executing
the notebook, or a plain process calling a function -- as an unprivileged user of its own
(a uid no other job uses), with resource limits: address space (memory), process count,
file size, CPU time, no core dumps; plus a cgroup memory and pids limit where cgroups (v1)
are writable. A watchdog kills the learner's processes when a cell ignores its time limit.

Results come back as JSON on the runner's own stdout (the learner's processes write to
/dev/null), never as pickles. What the machine could not enforce is returned as warnings.

Run as a module, this file is the runner: ``python -m course_utils.grading.sandbox MODE``
with the job as JSON on stdin.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

UID_BASE = 61000
_uid_lock = threading.Lock()
_uid_next = [0]


def next_uid() -> int:
    """A uid no other job running now uses (so limits and kills are per submission)."""
    with _uid_lock:
        _uid_next[0] = (_uid_next[0] + 1) % 4000
        return UID_BASE + _uid_next[0] + 1000 * (os.getpid() % 4)


# ----------------------------------------------------------------------------------------
# What this machine lets us enforce (probed once)
# ----------------------------------------------------------------------------------------
_PROBE: dict | None = None
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]


def capabilities() -> dict:
    """``{"namespaces": bool, "root": bool, "warnings": [...]}`` for this machine."""
    global _PROBE
    if _PROBE is not None:
        return _PROBE
    warnings = []
    root = os.geteuid() == 0
    namespaces = False
    if shutil.which("unshare"):
        try:
            namespaces = subprocess.run(UNSHARE + ["true"], capture_output=True,
                                        timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            namespaces = False
    if not namespaces:
        warnings.append("NO NETWORK ISOLATION: this machine does not allow network/pid/mount "
                        "namespaces (`unshare` failed), so submissions ran with the network "
                        "of this machine and could see its files. Grade on a machine (or "
                        "container) where `unshare --net --pid --fork --mount-proc true` works.")
    if not root:
        warnings.append("NOT ROOT: submissions ran as your own user (no separate uid), so they "
                        "could write wherever you can; the process limit counts all your "
                        "processes. Run `course grade` as root in a container for full isolation.")
    _PROBE = {"namespaces": namespaces, "root": root, "warnings": warnings}
    return _PROBE


def run_job(mode: str, job: dict, timeout: float) -> dict:
    """Run one job in a runner process; return its JSON result (never raises for the job)."""
    caps = capabilities()
    job = dict(job, namespaces=caps["namespaces"], demote=caps["root"])
    # Run as a script, not ``-m``: importing the course_utils package would import torch.
    command = [sys.executable, str(Path(__file__).resolve()), mode]
    if caps["namespaces"]:
        command = UNSHARE + command
    started = time.monotonic()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env=_runner_env())
    except OSError as error:
        return {"ok": False, "events": [f"the sandbox could not start: {error}"]}
    try:
        out, err = proc.communicate(json.dumps(job).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return {"ok": False, "events": [f"the whole run exceeded {timeout:.0f} s and was stopped"],
                "seconds": time.monotonic() - started}
    try:
        result = json.loads(out.decode("utf-8", "replace") or "null")
        if not isinstance(result, dict):
            raise ValueError("no result")
    except ValueError:
        tail = err.decode("utf-8", "replace")[-600:]
        return {"ok": False, "events": [f"the sandbox failed (exit code {proc.returncode}): {tail}"],
                "seconds": time.monotonic() - started}
    result.setdefault("seconds", time.monotonic() - started)
    return result


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def _runner_env() -> dict:
    keep = ("PATH", "LANG", "LC_ALL", "COURSE_PROFILE", "PYTHONHASHSEED", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# ----------------------------------------------------------------------------------------
# The runner (root inside its namespaces)
# ----------------------------------------------------------------------------------------
def _needed_paths() -> set:
    """The folders the sandboxed kernel needs: the Python install, the venv, this package."""
    return {Path(os.path.realpath(sys.executable)).parents[1], Path(sys.prefix).resolve(),
            Path(sys.base_prefix).resolve(), Path(__file__).resolve().parents[2]}


def _protected(path: Path) -> bool:
    """Folders we must not hide: they hold Python or this package."""
    path = path.resolve()
    needed = [Path(sys.prefix).resolve(), Path(__file__).resolve().parents[2]]
    return any(path == n or path in n.parents for n in needed)


def _private_tmp(tmp: str) -> bool:
    """Cover ``tmp`` with a fresh tmpfs, keeping any needed folder inside it reachable.

    A course checked out under /tmp (as CI clones do) keeps its venv and package there: each
    such folder is opened before the tmpfs goes on, then bind-mounted back through its file
    descriptor (the kernel follows /proc/self/fd to the original folder, not to the new name).
    """
    import ctypes
    base = Path(tmp).resolve()
    inside = sorted({n for n in _needed_paths() if base in n.parents}, key=lambda p: len(p.parts))
    inside = [n for n in inside if not any(o in n.parents for o in inside)]
    fds = {n: os.open(n, os.O_RDONLY | os.O_DIRECTORY) for n in inside}
    try:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,nr_inodes=20000,mode=1777",
                           "tmpfs", tmp], capture_output=True).returncode != 0:
            return False
        libc = ctypes.CDLL(None, use_errno=True)
        ms_bind, ms_rec = 4096, 16384
        for folder, fd in fds.items():
            folder.mkdir(parents=True, exist_ok=True)
            for parent in list(folder.parents)[:len(folder.parts) - len(base.parts) - 1]:
                parent.chmod(0o755)
            if libc.mount(f"/proc/self/fd/{fd}".encode(), str(folder).encode(), None,
                          ms_bind | ms_rec, None) != 0:
                return False
        return True
    finally:
        for fd in fds.values():
            os.close(fd)


def _setup_namespace(job: dict, warnings: list) -> None:
    def run(*cmd):
        return subprocess.run(list(cmd), capture_output=True).returncode == 0

    if not run("ip", "link", "set", "lo", "up"):
        warnings.append("could not bring up the loopback interface in the sandbox")
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(tmp) and not _private_tmp(tmp):
            warnings.append(f"could not give the sandbox a private {tmp}")
    _open_path_to_python(warnings)
    for hide in job.get("hide", []):
        path = Path(hide)
        if path.is_dir() and not _protected(path):
            if not run("mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", str(path)):
                warnings.append(f"could not hide {path} from the submission")


def _open_path_to_python(warnings: list) -> None:
    """Let the unprivileged learner reach Python and this package, and nothing beside them.

    Where a folder on the way (say ``/root`` holding ``/root/.pyenv``) is private, it is
    covered, in this mount namespace only, by an empty tmpfs into which just the needed
    child folder is moved back.
    """
    needed = _needed_paths()
    for target in sorted(needed, key=lambda p: len(p.parts)):
        for depth in range(1, len(target.parts) - 1):
            parent = Path(*target.parts[:depth + 1])
            try:
                mode = parent.stat().st_mode
            except OSError:
                break
            if mode & 0o001:
                continue
            child = Path(*target.parts[:depth + 2])
            stage = Path(tempfile.mkdtemp(prefix="stage-", dir="/tmp"))
            ok = subprocess.run(["mount", "--rbind", str(child), str(stage)]).returncode == 0
            ok = ok and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs",
                                        str(parent)]).returncode == 0
            if ok:
                child.mkdir(exist_ok=True)
                ok = subprocess.run(["mount", "--move", str(stage), str(child)]).returncode == 0
            if not ok:
                warnings.append(f"could not open {child} to the sandboxed user")
            break


class _Cgroup:
    """A cgroup v1 group (memory, pids, one CPU core) for the learner's processes, where writable."""

    def __init__(self, name: str, memory_mb: int, max_procs: int):
        self.dirs = []
        for controller, settings in (("memory", {"memory.limit_in_bytes": memory_mb << 20}),
                                     ("pids", {"pids.max": max_procs}),
                                     ("cpu", {"cpu.cfs_period_us": 100000,   # one core at most
                                              "cpu.cfs_quota_us": 100000})):
            path = Path("/sys/fs/cgroup") / controller / name
            try:
                path.mkdir(exist_ok=True)
                for key, value in settings.items():
                    (path / key).write_text(str(value))
                self.dirs.append(path)
            except OSError:
                pass

    def join(self) -> None:  # in the child, before exec
        for path in self.dirs:
            try:
                (path / "cgroup.procs").write_text("0")
            except OSError:
                pass

    def remove(self) -> None:
        for path in self.dirs:
            for _ in range(20):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def _demote(job: dict, cgroup: _Cgroup | None, chown: list):
    """The preexec function of the learner's process: limits, then an unprivileged uid."""
    uid, limits = job["uid"], job["limits"]

    def preexec():
        if cgroup is not None:
            cgroup.join()
        lim = [(resource.RLIMIT_AS, limits["memory_mb"] << 20),
               (resource.RLIMIT_FSIZE, 64 << 20),
               (resource.RLIMIT_CORE, 0),
               (resource.RLIMIT_CPU, int(limits["total_s"]) + 5),
               (resource.RLIMIT_NPROC, limits["max_procs"])]
        for kind, value in lim:
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


def _kill_learner(job: dict, pgid: int | None = None) -> None:
    """Kill every process of the job's uid (fork bombs included); else the process group."""
    if job.get("demote"):
        pid = os.fork()
        if pid == 0:
            try:
                os.setuid(job["uid"])
                for _ in range(200):
                    os.kill(-1, signal.SIGKILL)
                    time.sleep(0.005)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
    elif pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


def _is_learner_cell(cell) -> bool:
    """An answer cell, or a cell the learner added (release cells have their own limit)."""
    return "exercise" in cell.get("metadata", {}).get("tags", []) or \
        str(cell.get("id", "")).startswith("added-")


def _kill_strays(job: dict, kernel_pid: int | None) -> int:
    """Kill the learner's processes other than the kernel (forks must not outlive a cell)."""
    if not job.get("demote") or not kernel_pid:
        return 0
    killed = 0
    for _ in range(20):
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == kernel_pid:
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    uid_line = next(l for l in f if l.startswith("Uid:"))
                if int(uid_line.split()[1]) == job["uid"]:
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
            except (OSError, StopIteration, ValueError):
                continue
        killed += found
        if not found:
            break
        time.sleep(0.05)
    return killed


def _learner_env(job: dict, work: Path) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
           "IPYTHONDIR": str(work / ".ipython"), "MPLCONFIGDIR": str(work / ".mpl"),
           "COURSE_CACHE": str(work / ".course_cache"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "TQDM_DISABLE": "1"}
    if job.get("profile"):
        env["COURSE_PROFILE"] = job["profile"]
    return env


def _workdir(job: dict) -> Path:
    base = Path("/tmp") if job.get("namespaces") else Path(tempfile.mkdtemp(prefix="course-grade-"))
    work = base / "work"
    work.mkdir(parents=True, exist_ok=True)
    if job.get("demote"):
        os.chown(work, job["uid"], job["uid"])
    return work


def _watchdog(state: dict, job: dict, stop: threading.Event) -> None:
    """Kill the learner's processes when a cell (or the whole run) ignores its time limit."""
    grace = 5.0
    while not stop.wait(0.25):
        now = time.monotonic()
        late_cell = state.get("cell_deadline") and now > state["cell_deadline"] + grace
        late_total = now > state["total_deadline"] + grace
        if late_cell or late_total:
            state["killed"] = "the whole run" if late_total else f"cell {state.get('cell')}"
            _kill_learner(job, state.get("pgid"))
            state["cell_deadline"] = None


def _read_capped(path: Path, limit: int):
    try:
        if path.stat().st_size > limit:
            return None, f"the answers are larger than {limit >> 20} MB"
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as error:
        return None, f"the answers could not be read ({type(error).__name__})"


def run_notebook(job: dict) -> dict:
    """Execute a (restored) notebook cell by cell in a limited kernel; extract the answers."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    if __package__:
        from .encoding import EXTRACT_CELL
    else:  # run as a script (see run_job)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from encoding import EXTRACT_CELL
    try:
        from .encoding import AUDIT_STARTUP, audit_events
    except ImportError:
        from encoding import AUDIT_STARTUP, audit_events

    limits, events, warnings = job["limits"], [], []
    t0 = time.monotonic()
    timing = {}
    if job.get("namespaces"):
        _setup_namespace(job, warnings)
    os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="rt-")
    os.chmod(os.environ["JUPYTER_RUNTIME_DIR"], 0o711)
    work = _workdir(job)
    answers_path = work / f".answers-{job['nonce']}.json"
    audit_path = work / f".audit-{job['nonce']}.log"
    startup = work / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-course-audit.py").write_text(AUDIT_STARTUP.format(log_path=str(audit_path),
                                                                   kept=[str(p) for p in _needed_paths()]))
    if job.get("demote"):
        for folder, _, files in os.walk(work):
            os.chown(folder, job["uid"], job["uid"])
            for name in files:
                os.chown(os.path.join(folder, name), job["uid"], job["uid"])
    nb = nbformat.from_dict(job["notebook"])
    cgroup = _Cgroup(f"course-grade-{job['uid']}", limits["memory_mb"] * 2, limits["max_procs"]) \
        if job.get("demote") else None
    cap = limits["output_bytes"]

    class Client(NotebookClient):
        used = 0
        truncated = False

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if Client.used + size > cap:
                if not Client.truncated:
                    Client.truncated = True
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"[output cut: more than {cap} bytes]\n"))
                return None
            Client.used += size
            return super().output(outs, msg, display_id, cell_index)

    client = Client(nb, timeout=limits["cell_s"], interrupt_on_timeout=True, allow_errors=True,
                    kernel_name="python3", startup_timeout=limits.get("startup_s", 90),
                    shutdown_kernel="immediate",
                    resources={"metadata": {"path": str(work)}}, record_timing=False)
    state = {"total_deadline": time.monotonic() + limits["total_s"], "cell_deadline": None}
    stop = threading.Event()
    answers, cells = {}, []
    names = job["names"]
    extract = nbformat.v4.new_code_cell(EXTRACT_CELL.format(
        names=names, path=str(answers_path), module=job.get("module", ""), audit=str(audit_path)))

    def snapshot():
        extract.outputs = []
        nb.cells.append(extract)  # nbclient stores the cell back at its index
        remaining = state["total_deadline"] - time.monotonic()
        client.timeout = max(5, int(min(60, remaining + 10)))
        try:
            client.execute_cell(extract, len(nb.cells) - 1, store_history=False)
        finally:
            nb.cells.pop()
        failed = [o for o in extract.get("outputs", []) if o.get("output_type") == "error"]
        if failed:
            events.append(f"the answers could not be saved after cell {state.get('cell', 0)}: "
                          f"{failed[0].get('ename')}: {str(failed[0].get('evalue'))[:200]}")
        data, problem = _read_capped(answers_path, 32 << 20)
        if isinstance(data, dict):
            answers.clear()
            answers.update(data)
        elif problem:
            events.append(problem)

    try:
        preexec = _demote(job, cgroup, [lambda: client.km.connection_file])
        with client.setup_kernel(env=_learner_env(job, work), preexec_fn=preexec,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            try:
                state["pgid"] = client.km.provisioner.process.pid
            except AttributeError:
                pass
            timing["kernel_started"] = time.monotonic() - t0
            threading.Thread(target=_watchdog, args=(state, job, stop), daemon=True).start()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                remaining = state["total_deadline"] - time.monotonic()
                if remaining <= 0:
                    events.append(f"stopped before cell {index + 1}: the total time limit "
                                  f"({limits['total_s']} s) was reached")
                    break
                learner_cell = _is_learner_cell(cell)
                allowed = limits["cell_s"] if learner_cell else max(limits["cell_s"],
                                                                    limits.get("release_cell_s", 0))
                client.timeout = max(1, int(min(allowed, remaining)))
                state.update(cell=index + 1, cell_deadline=time.monotonic() + client.timeout)
                started = time.monotonic()
                try:
                    client.execute_cell(cell, index)
                finally:
                    state["cell_deadline"] = None
                seconds = time.monotonic() - started
                info = {"index": index, "id": cell.get("id"), "seconds": round(seconds, 2)}
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                if errors:
                    info["error"] = f"{errors[-1].get('ename', '')}: {str(errors[-1].get('evalue', ''))[:200]}"
                if seconds >= client.timeout - 0.5:
                    events.append(f"cell {index + 1} ran past its time limit ({client.timeout} s) "
                                  f"and was interrupted")
                cells.append(info)
                if learner_cell:
                    strays = _kill_strays(job, state.get("pgid"))
                    if strays:
                        events.append(f"cell {index + 1} left {strays} process(es) running: killed")
                    snapshot()
            snapshot()
            timing["executed"] = time.monotonic() - t0
    except DeadKernelError:
        events.append(f"the kernel died at cell {state.get('cell')} (out of memory, killed for "
                      f"ignoring a time limit, or crashed); answers up to then were kept")
    except Exception as error:  # noqa: BLE001 - whatever the learner did, report it
        events.append(f"execution stopped at cell {state.get('cell')}: "
                      f"{type(error).__name__}: {str(error)[:300]}")
    finally:
        stop.set()
        timing["shut_down"] = time.monotonic() - t0
        _kill_learner(job, state.get("pgid"))
        if cgroup is not None:
            cgroup.remove()
        timing["cleaned_up"] = time.monotonic() - t0
    try:
        with open(audit_path, encoding="utf-8", errors="replace") as f:
            events.extend(audit_events(f.read(1 << 16)))
    except OSError:
        pass
    if state.get("killed"):
        events.append(f"{state['killed']} ignored its time limit: all its processes were killed")
    if Client.truncated:
        events.append(f"output was cut after {cap} bytes")
    for output_cell in nb.cells:  # keep the executed notebook small
        if output_cell.cell_type == "code":
            output_cell.outputs = output_cell.get("outputs", [])
    return {"ok": True, "answers": answers, "cells": cells, "events": events,
            "warnings": warnings, "notebook": nb, "timing": timing}


def run_calls(job: dict) -> dict:
    """Call a learner's function on the judge's cases, in a limited process of its own."""
    warnings = []
    if job.get("namespaces"):
        _setup_namespace(job, warnings)
    work = _workdir(job)
    out_path = work / f".calls-{job['nonce']}.json"
    cgroup = _Cgroup(f"course-grade-{job['uid']}", job["limits"]["memory_mb"] * 2,
                     job["limits"]["max_procs"]) if job.get("demote") else None
    spec = {k: job[k] for k in ("imports", "source", "name", "cases")}
    spec["out"] = str(out_path)
    events = []
    try:
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.calls"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=str(work),
                                env=_learner_env(job, work), start_new_session=True,
                                preexec_fn=_demote(job, cgroup, []))
        try:
            proc.communicate(json.dumps(spec).encode(), timeout=job["limits"]["total_s"])
        except subprocess.TimeoutExpired:
            events.append(f"calling the function took more than {job['limits']['total_s']} s")
        _kill_learner(job, proc.pid)
    finally:
        if cgroup is not None:
            cgroup.remove()
    data, problem = _read_capped(out_path, 32 << 20)
    if problem:
        events.append(problem)
    return {"ok": True, "calls": data if isinstance(data, dict) else None, "events": events,
            "warnings": warnings}


def _main() -> None:
    if os.getpid() == 1:
        # PID 1 of the new namespace only waits (a kernel whose parent is PID 1 believes its
        # parent died). When it ends, the kernel kills every process left in the namespace.
        sys.exit(subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                 *sys.argv[1:]]).returncode)
    # Our result goes to the real stdout; anything else printed here goes to stderr.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    job = json.loads(sys.stdin.read())
    try:
        result = {"notebook": run_notebook, "calls": run_calls}[mode](job)
    except Exception as error:  # noqa: BLE001
        result = {"ok": False, "events": [f"the sandbox failed: {type(error).__name__}: {error}"]}
    with os.fdopen(result_fd, "w") as out:
        json.dump(result, out, default=str)


if __name__ == "__main__":
    _main()
