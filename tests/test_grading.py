"""`course grade`: the adversarial submissions of tests/grading_fixtures.py, graded in one run
with 2 workers, plus unit tests of the pieces (encoding, restoring, reading)."""
from __future__ import annotations

import csv
import http.server
import json
import os
import resource
import shutil
import socketserver
import threading
import time
from pathlib import Path

import nbformat
import numpy as np_alias
import pytest
from scipy.stats import shapiro
import torch

from course_utils.grading import encoding, main as grade_main
from course_utils.grading.judge import judge
from course_utils.grading.notebooks import load_release, read_submission, restore
from course_utils.grading import sandbox
from course_utils.grading.sandbox import capabilities

from grading_fixtures import EXPECTED, RELEASE, REPORTED, ROOT, make_submissions, solution_answers, with_answers

LIMIT_SECONDS = 300          # the budget for the whole adversarial run (2 workers)
CAPS = capabilities()
needs_sandbox = pytest.mark.skipif(not CAPS["sandbox"], reason=f"no grading sandbox here: {CAPS['problem']}")


# ----------------------------------------------------------------------------------------
# Unit tests
# ----------------------------------------------------------------------------------------
def roundtrip(value):
    return encoding.decode(json.loads(json.dumps(encoding.encode(value))))


def test_encoding_keeps_exact_types():
    import numpy as np
    for value in [None, True, 3, 2.5, float("inf"), "b", [1, (2, 3)], {"a": 1, 2: [0.5]},
                  {1, 2}, np.float32(1.5), np.int64(7)]:
        back = roundtrip(value)
        assert type(back) is type(value) and back == value
    t = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    back = roundtrip(t)
    assert type(back) is torch.Tensor and back.dtype == torch.float64 and torch.equal(back, t)
    p = roundtrip(torch.nn.Parameter(torch.ones(2)))
    assert type(p) is torch.nn.Parameter
    a = roundtrip(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert a.dtype == np.int32 and a.shape == (2, 3)
    assert math_isnan(roundtrip(float("nan")))


def test_a_function_answer_carries_its_helpers_not_library_code(tmp_path, monkeypatch):
    (tmp_path / "learner_cell.py").write_text(
        "from course_utils.losses import kd_loss\n\n"
        "def helper(x):\n    return x * 2\n\n"
        "def step(s, t, y):\n    return kd_loss(helper(s), t, y)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import learner_cell
    source = encoding.encode(learner_cell.step, namespace=vars(learner_cell))["source"]
    assert "def helper" in source and "def step" in source
    assert "def kd_loss" not in source   # imported again by the lesson's imports, not copied


def test_encoding_edge_cases():
    import numpy as np
    assert roundtrip(torch.zeros(0, 3)).shape == (0, 3)
    assert roundtrip(np.zeros((2, 0), dtype=np.float32)).shape == (2, 0)
    assert type(roundtrip(torch.zeros(2, dtype=torch.complex64))) is not torch.Tensor
    assert json.dumps(encoding.encode_answers(["z"], {"z": torch.zeros(2, dtype=torch.complex64)}))


def math_isnan(x):
    return x != x


def test_encoding_turns_impostors_into_inert_standins():
    class Always:
        def __eq__(self, other):
            return True

    class Liar(torch.Tensor):
        pass

    class S(str):
        pass

    for value, name in [(Always(), "Always"), (torch.zeros(2).as_subclass(Liar), "Liar"),
                        (S("b"), "S")]:
        back = roundtrip(value)
        assert type(back).__name__ == name
        assert back != "b" and not (back == torch.zeros(2)) if name != "Liar" else True
        assert type(back).__eq__ is object.__eq__


def test_decode_rejects_garbage():
    for bad in [None, [], {"t": 3}, {"t": "int", "v": 5}, {"t": "tensor", "dtype": "os.system"},
                {"t": "tensor", "dtype": "float32", "shape": [2], "data": [1.0]},
                {"t": "float", "v": "__import__('os')"}, {"t": "pickle", "v": "..."}]:
        with pytest.raises((encoding.EncodingError, ValueError)):
            encoding.decode(bad)


def test_judge_gives_the_same_words_as_check():
    from course_utils.exercises.lesson00 import q1
    wrong = torch.tensor([3.0, 1.0, 0.2]).exp()
    verdict = judge("course_utils.exercises.lesson00", "", {
        "probs": encoding.encode(wrong), "answer": encoding.encode("c")})
    by_name = {p["name"]: p for p in verdict["problems"]}
    assert by_name["q1"]["message"] == q1.evaluate({"probs": wrong}).message
    assert by_name["q1"]["status"] == "incorrect" and by_name["q1"]["score"] == 0
    assert "ordinary supervised learning" in by_name["q2"]["message"]
    assert "q3" not in by_name  # a thought question without an answer variable is not graded


def test_restore_puts_back_edited_and_deleted_cells():
    release = load_release(ROOT / "lessons", "00")
    nb = nbformat.reads(with_answers(release.notebook, solution_answers()), as_version=4)
    nb.cells[0].source = "edited"
    del nb.cells[3]
    nb.cells.append(nbformat.v4.new_code_cell("extra = 1"))
    merged, notes = restore(release, nb)
    assert [c.id for c in merged.cells][:len(release.ids)] == release.ids
    assert merged.cells[0].source == release.notebook.cells[0].source
    assert notes["restored"] == ["cell 1 was edited", "cell 4 was deleted"]
    assert notes["added"] == 1 and merged.cells[-1].source == "extra = 1"


def test_read_submission_never_raises(tmp_path):
    cases = {"bin.ipynb": b"\x00\xff\xfe", "list.ipynb": b"[1, 2]", "text.ipynb": b"hello",
             "bad.ipynb": json.dumps({"cells": [{"cell_type": "nonsense"}]}).encode()}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        nb, why = read_submission(tmp_path / name)
        assert nb is None and why


# ----------------------------------------------------------------------------------------
# The adversarial run
# ----------------------------------------------------------------------------------------
class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"b")

    def log_message(self, *args):
        pass


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not CAPS["sandbox"]:
        pytest.skip(f"no grading sandbox here: {CAPS['problem']}")
    base = tmp_path_factory.mktemp("grading")
    release_dir, out_dir, subs = base / "release", base / "grades", base / "submitted"
    shutil.copytree(ROOT / "lessons", release_dir)
    before = {p.name: p.read_bytes() for p in release_dir.iterdir()}
    server = socketserver.TCPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    expected = make_submissions(subs, release_dir, out_dir, port)
    started, cpu = time.monotonic(), _children_cpu()
    rc = grade_main(["--lesson", "00", "--release", str(release_dir), "--submissions", str(subs),
                     "--out", str(out_dir), "--solutions", str(ROOT / "solutions"),
                     "--workers", "2", "--cell-timeout", "5", "--release-cell-timeout", "150",
                     "--timeout", "150",
                     "--memory", "4000", "--max-procs", "96", "--max-output", "200000",
                     "--no-progress"])
    seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
    server.shutdown()
    results = json.loads((out_dir / "results.json").read_text())
    print(f"\ngraded {len(expected)} submissions in {seconds:.1f} s "
          f"({cpu:.0f} s of CPU in child processes; load average {os.getloadavg()[0]:.1f})")
    return {"rc": rc, "seconds": seconds, "out": out_dir, "release": release_dir,
            "before": before, "expected": expected, "port": port,
            "records": {r["learner"]: r for r in results["records"]}, "results": results}


def test_run_finishes_in_time_and_grades_everyone(graded):
    assert graded["rc"] == 0
    assert graded["seconds"] < LIMIT_SECONDS, graded["seconds"]
    assert set(graded["records"]) == set(graded["expected"])


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_submission_gets_its_expected_outcome(graded, case):
    q1, q2, status, phrase = graded["expected"][case]
    record = graded["records"][case]
    scores = {p["name"]: p["score"] for p in record["problems"]}
    detail = json.dumps(record, indent=1, default=str)[:3000]
    assert (scores["q1"], scores["q2"]) == (q1, q2), detail
    assert record["status"] == status, detail
    feedback = (graded["out"] / "feedback" / f"{case}.md").read_text()
    assert f"**Score: {q1 + q2} / 2**" in feedback
    if phrase:
        assert phrase in feedback, feedback


def test_grades_csv_is_complete_and_honest(graded):
    rows = list(csv.DictReader((graded["out"] / "grades.csv").open()))
    assert [r["learner"] for r in rows] == sorted(graded["expected"])
    assert "mallory" not in (graded["out"] / "grades.csv").read_text()
    for row in rows:
        q1, q2, _, _ = graded["expected"][row["learner"]]
        assert (int(row["q1"]), int(row["q2"]), int(row["total"])) == (q1, q2, q1 + q2)
    assert not list(graded["out"].glob(".*.tmp"))  # no half-written files left


def test_nothing_outside_the_sandbox_was_touched(graded):
    sentinel = f"pwned-{graded['port']}"
    for place in [Path("/tmp"), Path.home(), Path("/root"), ROOT, graded["out"], graded["release"]]:
        assert not os.path.exists(place / sentinel), place  # False too where we may not look
    after = {p.name: p.read_bytes() for p in graded["release"].iterdir()}
    assert after == graded["before"]
    assert (ROOT / "lessons" / "00_welcome.ipynb").exists()


def test_network_was_unreachable(graded):
    assert _Counter.hits == 0
    errors = json.dumps(graded["records"]["network_call"]["errors"])
    assert "URLError" in errors and "Connection refused" in errors, errors


def test_an_output_flood_is_stopped_and_its_output_capped(graded):
    """Whichever comes first on this machine -- the output cap or the cell's time limit --
    the flood is stopped, the report says how, and at most the cap is kept."""
    section = (graded["out"] / "report.md").read_text().split("### output_flood (")[1].split("\n### ")[0]
    assert "output was cut" in section or "ran past its time limit" in section, section
    executed = json.loads((graded["out"] / "executed" / "output_flood.ipynb").read_text())
    kept = sum(len(json.dumps(c.get("outputs", []))) for c in executed["cells"] if c["cell_type"] == "code")
    assert kept < 200_000 + 50_000, kept


def test_feedback_never_shows_hidden_check_code(graded):
    hidden = [c.source for c in nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", 4).cells
              if "hidden-check" in c.metadata.get("tags", [])]
    assert hidden, "lesson 00 should have a hidden check"
    for md in (graded["out"] / "feedback").glob("*.md"):
        text = md.read_text()
        assert "_keeps_default_dtype" not in text and "hidden_checks" not in text
        for line in hidden[0].split("\n"):
            if len(line.strip()) > 25:
                assert line.strip() not in text
    report = (graded["out"] / "report.md").read_text()
    assert "Summary" in report and "solution" in report


# ----------------------------------------------------------------------------------------
# Function answers: called in a sandbox, replayed to the check in the judge
# ----------------------------------------------------------------------------------------
def _function_answer(source, name="soften"):
    return {"soften": {"t": "function", "name": name, "source": source}}


@pytest.mark.parametrize("source, status, phrase", [
    ("def soften(logits, T):\n    return torch.softmax(logits / T, dim=-1)\n", "correct", ""),
    ("def soften(logits, T):\n    return torch.softmax(logits, dim=-1)\n", "incorrect",
     "you forgot to divide by T."),
    ("def soften(logits, T):\n    raise NotImplementedError()\n", "not attempted", "NotImplementedError"),
    ("def soften(logits, T):\n    x = 1\n    raise ValueError('bad T')\n", "incorrect",
     "raised ValueError: bad T (line 3: `raise ValueError('bad T')`)"),
    # tampering with the checks from inside the function cannot reach the judge
    # an endless function gets a verdict, not a hung grader; an in-place change is named
    ("def soften(logits, T):\n    while True:\n        pass\n", "timed out", "time limit"),
    ("def soften(logits, T):\n    logits /= T\n    return torch.softmax(logits, dim=-1)\n",
     "incorrect", "changed its argument `logits`"),
    ("def soften(logits, T):\n    import course_utils.exercises.core as c\n"
     "    c.assert_close = lambda *a, **k: None\n    return logits * 0\n", "incorrect", "wrong values"),
])
@needs_sandbox
def test_function_answers_are_called_in_a_sandbox_and_replayed(source, status, phrase):
    verdict = judge("grading_fn_questions", "", _function_answer(source), imports="import torch",
                    limits={"cell_s": 10, "total_s": 30, "memory_mb": 4000, "max_procs": 64,
                            "output_bytes": 10000})
    problem = verdict["problems"][0]
    assert problem["status"] == status, verdict
    assert problem["score"] == (status == "correct")
    assert phrase in problem["message"], problem["message"]


SHARPEN = "def sharpen(logits):\n    return torch.softmax(2 * logits, dim=-1)\n"
# One call into C, which no signal handler interrupts (Python runs them between bytecodes): the
# in-process time limit cannot stop it, only stopping the process can.
STUBBORN = "def soften(logits, T):\n    return sum(range(10 ** 15))\n"
# A Python loop that swallows the alarm: escaped in-process at the end of its time limit, or
# stopped with the process if the total limit comes first (which depends on the machine's speed).
SWALLOWS = ("def soften(logits, T):\n    while True:\n        try:\n            while True:\n"
            "                pass\n        except BaseException:\n            pass\n")


@pytest.mark.parametrize("soften, status, processes", [
    ("def soften(logits, T):\n    return torch.softmax(logits / T, dim=-1)\n", "correct", {1}),
    # ignores its time limit: the process is stopped at the total limit; the function after
    # it is called again, and still counts
    (STUBBORN, "timed out", {2}),
    (SWALLOWS, "timed out", {1, 2}),
], ids=["correct", "stubborn", "swallows"])
@needs_sandbox
def test_a_submissions_functions_share_one_sandboxed_process(soften, status, processes, monkeypatch):
    from course_utils.grading import judge as J
    jobs = []
    original = J._in_sandbox
    monkeypatch.setattr(J, "_in_sandbox", lambda job, *a: jobs.append(job) or original(job, *a))
    answers = {**_function_answer(soften),
               "sharpen": {"t": "function", "name": "sharpen", "source": SHARPEN}}
    verdict = judge("grading_fn_questions", "", answers, imports="import torch",
                    limits={"cell_s": 10, "total_s": 12, "memory_mb": 4000, "max_procs": 64,
                            "output_bytes": 10000})
    found = {p["name"]: p["status"] for p in verdict["problems"]}
    assert found == {"q1": status, "q2": "correct"}, verdict
    assert set(jobs[0]["batch"]) == {"q1/soften", "q2/sharpen"}
    # one process for both, unless the first had to be stopped
    assert len(jobs) in processes, jobs


@pytest.mark.parametrize("case", sorted(REPORTED))
def test_the_report_says_what_each_hostile_submission_tried(graded, case):
    report = (graded["out"] / "report.md").read_text()
    section = report.split(f"### {case} (")[1].split("\n### ")[0]
    assert REPORTED[case] in section, section
    if case not in ("traceback_hook",):
        assert "replaced `sys.excepthook`" not in section  # no false alarms



def _learner_prada_w(v):
    # as a learner's cell defines it: global names bound by imports (below), not closures
    d = [np_alias.linalg.norm(v[:i] - v[i], axis=1).min() for i in range(1, len(v))]
    return float(shapiro(d).statistic)


def test_a_function_answer_carries_the_imports_it_relies_on():
    """A learner who imports inside their own exercise cell (`from scipy.stats import shapiro`)
    is replayed with that import: the lesson's imports alone would leave the name undefined."""
    from course_utils.grading.encoding import encode

    source = encode(_learner_prada_w, namespace=globals())["source"]
    assert "import numpy as np_alias" in source and "import shapiro" in source
    replayed: dict = {}
    exec(source, replayed)   # what the sandbox does, with nothing else imported
    v = np_alias.random.default_rng(0).normal(size=(12, 3))
    assert replayed["_learner_prada_w"](v) == _learner_prada_w(v)
