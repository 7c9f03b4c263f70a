"""Where a learner's code runs: a bubblewrap sandbox.

The grader starts one *runner* (:mod:`.runner`) per job with :func:`run_job`, inside
bubblewrap (``bwrap``, the sandbox behind Flatpak). The sandbox sees:

* the system (``/usr``, ``/etc``, the libraries), the Python installation, the virtual
  environment and the ``course_utils`` package -- read-only, each at its own path, so a
  Python living in a private home folder (pyenv, conda) works like any other;
* a private, size-limited ``/tmp`` (the working folder), ``/var/tmp`` and ``/dev/shm``;
* nothing else: not the rest of the course (``solutions/``, the release), not the
  submissions, not the grades, not the home folder.

It has no network (a namespace with a loopback only), its own process tree (when the runner
ends, every process the learner started ends with it), ``--die-with-parent`` and
``--new-session``. As root, the runner keeps just the capabilities it needs to start the
learner's kernel as an unprivileged uid of its own; as an ordinary user (an instructor's
laptop with unprivileged user namespaces), bwrap maps the user into a namespace of its own.
Resource limits are rlimits (allocated memory, processes, file size, CPU time) plus, where the
machine lets us, a cgroup (v2, else v1) for the whole sandbox: memory, processes, one core.

The job goes to the runner as JSON on stdin; the result comes back as JSON on its stdout,
never as a pickle. What the machine could not enforce is returned as warnings. A sandbox
that cannot start is reported as ``ok: False`` with ``fault: "sandbox"``: it is never the
learner's fault.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

UID_BASE = 61000
TMP_SIZE = 512 << 20          # bytes of the sandbox's private /tmp (its working folder)
PACKAGE = Path(__file__).resolve().parents[1]       # .../course_utils
RUNNER = Path(__file__).resolve().parent / "runner.py"

INSTALL_HELP = ("install bubblewrap: `sudo apt install bubblewrap` (Debian/Ubuntu), "
                "`sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch), "
                "`conda install -c conda-forge bubblewrap`; then run `course grade` again. "
                "Or grade notebooks you trust without a sandbox: `course grade --no-sandbox ...`")
NO_SANDBOX_WARNING = ("NOT SANDBOXED (--no-sandbox): the notebooks ran as you, with your "
                      "network and your files. Use this only for notebooks you trust.")

_uid_lock = threading.Lock()
_uid_next = [0]


def next_uid() -> int:
    """A uid no other job running now uses (so limits and kills are per submission)."""
    with _uid_lock:
        _uid_next[0] = (_uid_next[0] + 1) % 4000
        return UID_BASE + _uid_next[0] + 1000 * (os.getpid() % 4)


# ----------------------------------------------------------------------------------------
# What the sandbox contains
# ----------------------------------------------------------------------------------------
_SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _python_paths() -> list[Path]:
    """Folders the interpreter, its standard library and its site-packages live in.

    Asked of a fresh interpreter (``-I``-like: no current folder), so a course folder that
    happens to be the current directory is not mistaken for a library folder.
    """
    paths = {Path(os.path.realpath(sys.executable)).parents[1], Path(sys.prefix),
             Path(sys.base_prefix), Path(sys.exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(Path(value))
    try:
        out = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"],
                             capture_output=True, text=True, timeout=60, cwd="/",
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        entries = json.loads(out.stdout or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        entries = []
    for entry in entries:
        path = Path(entry)
        # site folders and zips; the course's own folder (an editable install) is added
        # below as just its package, never as the whole checkout with its solutions
        if entry and path.exists() and (PACKAGE.parent != path.resolve()):
            paths.add(path)
    out = []
    for path in sorted({p.resolve() for p in paths if p.exists()}, key=lambda p: len(p.parts)):
        if not any(path == o or o in path.parents for o in out) and not _is_system(path):
            out.append(path)
    return out


def _is_system(path: Path) -> bool:
    return any(path == Path(s) or Path(s) in path.parents for s in _SYSTEM)


@functools.lru_cache(maxsize=1)
def visible_paths() -> tuple[Path, ...]:
    """Everything bound read-only into the sandbox besides the system folders."""
    paths = _python_paths()
    if not any(PACKAGE == p or p in PACKAGE.parents for p in paths):
        paths.append(PACKAGE)
    return tuple(paths)


def bwrap_command(bwrap: str, root: bool, hide: list, command: list,
                  read_only: tuple = ()) -> list[str]:
    """The bubblewrap command line that runs ``command`` in the sandbox.

    ``read_only``: more folders to show read-only (the instructor's cache of teachers)."""
    args = [bwrap, "--die-with-parent", "--new-session"]
    if root:
        # No user namespace: the runner is root in the sandbox with a handful of
        # capabilities, and starts the learner's kernel as an unprivileged uid.
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                 "--unshare-cgroup-try"]
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE",
                    "CAP_FOWNER"):
            args += ["--cap-add", cap]
    else:
        # a user namespace of its own (--disable-userns needs it asked for explicitly), in
        # which the learner's code may not make further ones
        args += ["--unshare-user", "--unshare-all", "--disable-userns"]
    # The private folders first: a course or venv living under /tmp is bound on top of them.
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(64 << 20), "--tmpfs", "/var/tmp",
             "--perms", "1777", "--size", str(256 << 20), "--tmpfs", "/dev/shm"]
    for folder in _SYSTEM:
        path = Path(folder)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), folder]
        elif path.is_dir():
            args += ["--ro-bind", folder, folder]
    visible = visible_paths()
    # The folders on the way to them are made for the sandbox, open to its unprivileged user:
    # a private home folder holding pyenv or conda stays private outside.
    made = {Path("/"), Path("/tmp"), Path("/var/tmp")}
    for path in visible:
        for parent in reversed(path.parents):
            if parent not in made and not _is_system(parent):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(path), str(path)]
    for folder in read_only:
        args += ["--ro-bind", str(folder), str(folder)]
    # A folder to hide that lies inside a visible one (grades written into the venv, say)
    # is covered by an empty tmpfs.
    for folder in hide:
        path = Path(folder).resolve()
        if any(path == v or v in path.parents for v in visible) and path.is_dir():
            args += ["--size", str(1 << 20), "--tmpfs", str(path)]
    args += ["--chdir", "/tmp", "--setenv", "HOME", "/tmp", "--"]
    return args + command


# ----------------------------------------------------------------------------------------
# A cgroup for the whole sandbox (root only)
# ----------------------------------------------------------------------------------------
class Cgroup:
    """Memory, process and CPU limits for one sandbox: cgroup v2 where it works, else v1."""

    V2 = Path("/sys/fs/cgroup")

    def __init__(self, name: str, memory_mb: int, max_procs: int):
        self.dirs: list[Path] = []
        self.version = None
        if self._v2(name, memory_mb, max_procs):
            self.version = "v2"
        elif self._v1(name, memory_mb, max_procs):
            self.version = "v1"

    def _v2(self, name, memory_mb, max_procs) -> bool:
        if not (self.V2 / "cgroup.controllers").exists():
            return False
        path = self.V2 / name
        try:
            available = (self.V2 / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(available):
                (self.V2 / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            path.mkdir(exist_ok=True)
            self.dirs = [path]
            (path / "memory.max").write_text(str(memory_mb << 20))
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
            (path / "pids.max").write_text(str(max_procs))
            if (path / "cpu.max").exists():
                (path / "cpu.max").write_text("100000 100000")  # one core at most
            return True
        except OSError:
            self.remove()
            self.dirs = []
            return False

    def _v1(self, name, memory_mb, max_procs) -> bool:
        made = []
        for controller, settings in (("memory", {"memory.limit_in_bytes": memory_mb << 20}),
                                     ("pids", {"pids.max": max_procs}),
                                     ("cpu", {"cpu.cfs_period_us": 100000,
                                              "cpu.cfs_quota_us": 100000})):
            path = self.V2 / controller / name
            try:
                path.mkdir(exist_ok=True)
                made.append(path)
                for key, value in settings.items():
                    (path / key).write_text(str(value))
            except OSError:
                continue
        self.dirs = made
        return bool(made)

    def join(self) -> None:  # in the child, before exec: the sandbox and all it starts
        for path in self.dirs:
            try:
                (path / "cgroup.procs").write_text("0")
            except OSError:
                pass

    def remove(self) -> None:
        for path in self.dirs:
            for _ in range(40):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


# ----------------------------------------------------------------------------------------
# What this machine lets us do (probed once)
# ----------------------------------------------------------------------------------------
_PROBE: dict | None = None


def capabilities(sandbox: bool = True) -> dict:
    """``{"sandbox", "root", "bwrap", "problem", "cgroup", "warnings"}`` for this machine.

    ``problem`` is set (and ``sandbox`` False) when a sandbox was wanted but cannot run here;
    ``course grade`` then refuses to grade, with the reason and how to fix it.
    """
    global _PROBE
    if not sandbox:
        return {"sandbox": False, "root": os.geteuid() == 0, "bwrap": None, "problem": None,
                "cgroup": None, "warnings": [NO_SANDBOX_WARNING]}
    if _PROBE is not None:
        return _PROBE
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    problem, warnings = None, []
    if bwrap is None:
        problem = "bubblewrap (`bwrap`) is not installed, and grading runs learners' code in it: " + INSTALL_HELP
    else:
        probe = bwrap_command(bwrap, root, [], [sys.executable, "-c", "import encodings, json; print('ok')"])
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
            if done.stdout.strip() != "ok":
                problem = (f"bubblewrap is installed but cannot run Python in a sandbox here "
                           f"(exit code {done.returncode}: {done.stderr.strip()[-400:]}). "
                           + ("Unprivileged user namespaces may be disabled: allow them "
                              "(`sudo sysctl -w kernel.unprivileged_userns_clone=1`, or on "
                              "Ubuntu 24.04 `kernel.apparmor_restrict_unprivileged_userns=0`), "
                              "or grade as root in a container." if not root else
                              "In a container, start it with `--privileged` or with "
                              "`--security-opt seccomp=unconfined --cap-add SYS_ADMIN`."))
        except (OSError, subprocess.SubprocessError) as error:
            problem = f"bubblewrap could not be started: {error}"
    cgroup = None
    if root and problem is None:
        test = Cgroup(f"course-grade-probe-{os.getpid()}", 256, 64)
        cgroup = test.version
        test.remove()
    if problem is None and not root:
        warnings.append("not root: learners' code ran in a user namespace as your own uid (it "
                        "could see none of your files); processes and memory were limited per "
                        "process (rlimits), not per submission.")
    elif problem is None and cgroup is None:
        warnings.append("no writable cgroup: memory and processes were limited per process "
                        "(rlimits) only, not per submission.")
    _PROBE = {"sandbox": problem is None, "root": root, "bwrap": bwrap, "problem": problem,
              "cgroup": cgroup, "warnings": warnings}
    return _PROBE


# ----------------------------------------------------------------------------------------
# Running one job
# ----------------------------------------------------------------------------------------
def run_job(mode: str, job: dict, timeout: float, sandbox: bool = True) -> dict:
    """Run one job in a runner process; return its JSON result (never raises for the job).

    A result with ``fault: "sandbox"`` means the sandbox itself failed: not the learner's doing.
    """
    caps = capabilities(sandbox)
    if sandbox and not caps["sandbox"]:
        return {"ok": False, "fault": "sandbox", "events": [caps["problem"]]}
    job = dict(job, sandboxed=caps["sandbox"], demote=caps["sandbox"] and caps["root"],
               visible=[str(p) for p in visible_paths()])
    # Run as a script, not ``-m``: importing the course_utils package would import torch.
    command = [sys.executable, str(RUNNER), mode]
    cgroup = None
    if caps["sandbox"]:
        seed = job["limits"].get("cache_seed")
        command = bwrap_command(caps["bwrap"], caps["root"], job.get("hide", []), command,
                                read_only=(seed,) if seed and Path(seed).is_dir() else ())
        if caps["cgroup"]:
            limits = job["limits"]
            cgroup = Cgroup(f"course-grade-{job['uid']}", limits["memory_mb"] * 2,
                            limits["max_procs"] + 64)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env=_runner_env(), preexec_fn=cgroup.join if cgroup else None)
    except OSError as error:
        if cgroup:
            cgroup.remove()
        return {"ok": False, "fault": "sandbox", "events": [f"the sandbox could not start: {error}"]}
    try:
        out, err = proc.communicate(json.dumps(job).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return {"ok": False, "events": [f"the whole run exceeded {timeout:.0f} s and was stopped"],
                "seconds": time.monotonic() - started}
    finally:
        if cgroup:
            cgroup.remove()
    try:
        result = json.loads(out.decode("utf-8", "replace") or "null")
        if not isinstance(result, dict):
            raise ValueError("no result")
    except ValueError:
        tail = err.decode("utf-8", "replace").strip()[-600:]
        return {"ok": False, "fault": "sandbox", "seconds": time.monotonic() - started,
                "events": [f"the sandbox gave no result (exit code {proc.returncode})"
                           + (f": {tail}" if tail else "")]}
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
