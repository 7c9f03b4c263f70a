"""What the grader runs inside the learner's kernel, and how the runner reads what it left.

* :data:`AUDIT_STARTUP` -- an IPython start-up file: an audit hook (which Python cannot
  remove) notes attempts to write or delete outside the working folder, to connect, fork or
  run programs. For the report only: the sandbox, not this, enforces.
* :data:`EXTRACT_CELL` -- the cell run after each exercise cell and at the end: it writes the
  answers (:func:`.encoding.encode_answers`) and what the notebook changed of the checks
  (:func:`tampering`) to files the runner reads.
* :func:`audit_events` -- the report's lines for an audit log (runs in the runner).

Everything here that runs in the kernel is untrusted once the learner's code has run.
Light imports only: the kernel imports this module.
"""
from __future__ import annotations

AUDIT_STARTUP = """\
def __course_audit(log_path, kept):
    import os, sys
    work = os.path.dirname(log_path)
    log = open(log_path, "a", buffering=1)
    seen = set()

    def note(kind, what):
        key = (kind, str(what)[:200])
        if key not in seen and len(seen) < 200:
            seen.add(key)
            try:
                log.write(kind + "\\t" + key[1].replace("\\n", " ") + "\\n")
            except Exception:
                pass

    def outside(path):
        try:
            p = os.path.abspath(os.fsdecode(path))
        except Exception:
            return False
        # the sandbox's private /tmp is thrown away: libraries use it all the time. The real
        # folders bound back into it (a course checked out under /tmp) are not.
        if any(p == k or p.startswith(k + os.sep) for k in kept):
            return True
        return not (p == work or p.startswith(work + os.sep) or
                    p.startswith(("/dev/", "/proc/", "/sys/", "/tmp/", "/var/tmp/")))

    watched = frozenset(("open", "os.remove", "os.rmdir", "shutil.rmtree", "os.rename",
                         "socket.connect", "os.fork", "subprocess.Popen"))

    def hook(event, args):
        if event not in watched:  # hooks see every import and exec: return fast
            return
        try:
            if event == "open" and not isinstance(args[0], int):
                mode, flags = args[1] or "", args[2] or 0
                if (any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) \\
                        and outside(args[0]):
                    note("write", args[0])
            elif event in ("os.remove", "os.rmdir", "shutil.rmtree", "os.rename"):
                if outside(args[0]):
                    note("delete", args[0])
            elif event == "socket.connect":
                note("connect", args[1])
            elif event == "os.fork":
                note("fork", "")
            elif event == "subprocess.Popen":
                note("run", args[0])
        except Exception:
            pass

    sys.addaudithook(hook)


__course_audit({log_path!r}, {kept!r})
del __course_audit
"""

_AUDIT_WORDS = {"write": "tried to write outside its working folder",
                "delete": "tried to delete outside its working folder",
                "connect": "tried to open a network connection", "fork": "forked processes",
                "run": "ran programs", "tamper": "tampered with"}


def audit_events(text: str) -> list[str]:
    """The report's lines for an audit log (see AUDIT_STARTUP); untrusted, capped."""
    found: dict = {}
    for line in text.splitlines()[:400]:
        kind, _, what = line.partition("\t")
        if kind in _AUDIT_WORDS:
            found.setdefault(kind, [])
            if what and what not in found[kind]:
                found[kind].append(what[:120])
    lines = []
    for kind, whats in found.items():
        quote = "" if kind == "tamper" else "`"
        shown = ", ".join(f"{quote}{w}{quote}" for w in whats[:4]) + (f" and {len(whats) - 4} more" if len(whats) > 4 else "")
        lines.append(f"{_AUDIT_WORDS[kind]}" + (f": {shown}" if shown else ""))
    return lines


def tampering(namespace: dict, module_name: str) -> list[str]:
    """What a submission changed of the checks or the error display (untrusted, for the report)."""
    import sys
    notes = []
    core = sys.modules.get("course_utils.exercises.core")
    module = sys.modules.get(module_name)
    if module is not None:
        for name in getattr(module, "__all__", []):
            if name in namespace and namespace[name] is not getattr(module, name, None):
                notes.append(f"redefined `{name}`")
    if core is not None:
        for owner, attr, qual in ((core.Problem, "evaluate", "Problem.evaluate"),
                                  (core.Problem, "check", "Problem.check"),
                                  (core, "assert_close", "assert_close"), (core, "show", "show")):
            if getattr(getattr(owner, attr, None), "__qualname__", None) != qual:
                notes.append(f"replaced `{qual}`")
    if getattr(sys.excepthook, "__module__", None) == "__main__":  # defined in a cell
        notes.append("replaced `sys.excepthook`")
    shell = namespace.get("get_ipython")
    try:
        if shell is not None and "showtraceback" in vars(shell()):
            notes.append("replaced IPython's `showtraceback`")
    except Exception:  # noqa: BLE001
        pass
    return notes


# The cell the grader runs in the learner's kernel after each exercise cell and at the end.
# It writes the answers to a file the runner reads; everything it defines is removed again.
EXTRACT_CELL = """\
def __course_grade_extract(names, path, module, audit):
    import json, os
    from course_utils.grading.encoding import encode_answers
    from course_utils.grading.in_kernel import tampering
    data = json.dumps(encode_answers(names, globals()))
    with open(path + ".tmp", "w") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    with open(audit, "a") as f:
        f.writelines("tamper\\t" + note + "\\n" for note in tampering(globals(), module))
__course_grade_extract({names!r}, {path!r}, {module!r}, {audit!r})
del __course_grade_extract
"""


