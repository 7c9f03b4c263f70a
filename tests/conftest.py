import os
import sys
from pathlib import Path

# The tests run offline, in the `ci` profile, without a display, before course_utils is imported.
os.environ.setdefault("COURSE_PROFILE", "ci")
os.environ.setdefault("MPLBACKEND", "Agg")
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(var, "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _sandbox_line() -> str:
    from course_utils.grading.sandbox import capabilities
    caps = capabilities()
    if caps["sandbox"]:
        who = "as root, cgroup " + str(caps["cgroup"] or "none") if caps["root"] else "as an ordinary user"
        return f"grading sandbox: bubblewrap ({caps['bwrap']}), {who}"
    return f"grading sandbox UNAVAILABLE, so the sandboxed grading tests are skipped: {caps['problem']}"


def pytest_report_header(config):
    return _sandbox_line()


def pytest_terminal_summary(terminalreporter):
    line = _sandbox_line()
    if "UNAVAILABLE" in line:
        terminalreporter.write_line(line, yellow=True)
