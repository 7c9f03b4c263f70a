"""The guards every function check uses (issue 17): time limits, bounded iteration, unchanged
arguments, numbers of any type, order-free lists, normalised multiple-choice letters."""
import signal
import threading
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch

from course_utils.exercises import core
from course_utils.exercises.core import (CORRECT, INCORRECT, NOT_ATTEMPTED, TIMED_OUT,
                                         ChoiceProblem, CustomProblem, EqualityProblem,
                                         FunctionProblem, Incorrect, LearnerTimeout,
                                         MultipartProblem, TimedOut, assert_close,
                                         assert_same_items, call_learner, normalise_choice, take)


@pytest.fixture
def short_limit(monkeypatch):
    monkeypatch.setattr(core, "TIME_LIMIT", 0.5)


def _double(x):
    return x * 2


FN = FunctionProblem("f", reference=_double, cases=[((torch.tensor([1.0, 2.0]),), {}), ((3.0,), {})])


# -- time limits -------------------------------------------------------------------------
def test_an_endless_loop_gets_a_timed_out_verdict(short_limit):
    def spin(x):
        while True:
            pass
    start = time.monotonic()
    out = FN.evaluate({"f": spin})
    assert out.status == TIMED_OUT and "f(tensor([1.0, 2.0]))" in out.message
    assert time.monotonic() - start < 2
    assert not out.correct and "Timed out" in str(out)


def test_a_long_sleep_and_a_loop_that_swallows_exceptions_are_stopped(short_limit):
    def sleepy(x):
        time.sleep(60)
    def stubborn(x):
        while True:
            try:
                time.sleep(0.01)
            except BaseException:  # noqa: BLE001 - what a desperate learner writes
                pass
    for fn in (sleepy, stubborn):
        start = time.monotonic()
        assert FN.evaluate({"f": fn}).status == TIMED_OUT
        assert time.monotonic() - start < 3


def test_the_time_limit_is_for_the_whole_check(short_limit):
    def slowish(x):
        time.sleep(0.3)
        return x * 2
    # each call alone is under the limit, both together are not
    assert FN.evaluate({"f": slowish}).status == TIMED_OUT


def test_a_timer_set_by_someone_else_is_restored():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        assert FN.evaluate({"f": _double}).correct
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 1.0
        time.sleep(remaining + 0.2)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_the_limit_also_works_outside_the_main_thread(short_limit):
    def spin(x):
        while True:
            x = x + 0
    result = {}
    thread = threading.Thread(target=lambda: result.update(out=FN.evaluate({"f": spin})))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and result["out"].status == TIMED_OUT


def test_a_replayed_timeout_from_the_grader_is_timed_out():
    def replay(x):
        raise LearnerTimeout("your function did not finish within the time limit")
    assert FN.evaluate({"f": replay}).status == TIMED_OUT


def test_custom_checks_and_multipart_report_timed_out(short_limit):
    def checker(g):
        call_learner(g, "g", (1,))
    p = CustomProblem(vars=["g"], checker=checker, name="c")
    def forever(n):
        while True:
            pass
    assert p.evaluate({"g": forever}).status == TIMED_OUT
    assert p.evaluate({"g": lambda n: n}).status == CORRECT
    multi = MultipartProblem(name="m", parts={"a": p, "b": EqualityProblem(expected={"z": 1})})
    assert multi.evaluate({"g": forever, "z": 1}).status == TIMED_OUT
    assert TimedOut.__mro__[1] is Incorrect   # timed out scores like a wrong answer
    assert core.Outcome(TIMED_OUT, "x").to_dict()["status"] == "timed out"


# -- bounded iteration -------------------------------------------------------------------
def test_take_stops_at_the_limit_and_on_time(short_limit):
    def naturals():
        n = 0
        while True:
            yield n
            n += 1
    assert take(naturals(), 4, "g()") == [0, 1, 2, 3]
    def stuck():
        yield 1
        while True:
            pass
    with pytest.raises(TimedOut, match="after 1"):
        take(stuck(), 5, "g()")
    with pytest.raises(Incorrect, match="ZeroDivisionError"):
        take((1 / x for x in [1, 0]), 5, "g()")
    with pytest.raises(Incorrect, match="sequence"):
        take(3, 5, "g()")


def test_a_generator_answer_is_read_one_item_past_what_is_expected():
    def ref(n):
        return list(range(n))
    P = FunctionProblem("gen", reference=ref, cases=[((3,), {}), ((0,), {})])
    def right(n):
        yield from range(n)
    def endless(n):
        k = 0
        while True:
            yield k
            k += 1
    assert P.evaluate({"gen": right}).correct
    out = P.evaluate({"gen": endless})
    assert out.status == INCORRECT and "more than 3 items" in out.message


# -- unchanged arguments -----------------------------------------------------------------
def test_changes_to_any_kind_of_argument_are_named():
    def ref(x, y):
        return 1.0
    cases = [((torch.ones(3), {"a": [1, 2]}), {})]
    P = FunctionProblem("f", reference=ref, cases=cases)
    def tensor_inplace(x, y):
        x += 1
        return 1.0
    def list_append(x, y):
        y["a"].append(3)
        return 1.0
    def dict_key(x, y):
        y["b"] = 0
        return 1.0
    for fn, what in ((tensor_inplace, "`x`"), (list_append, "`y`"), (dict_key, "`y`")):
        out = P.evaluate({"f": fn})
        assert out.status == INCORRECT and f"changed its argument {what}" in out.message, out
    assert P.evaluate({"f": lambda x, y: 1.0}).correct
    arr = FunctionProblem("f", reference=lambda a: 0.0, cases=[((np.zeros(3),), {})])
    def sort_inplace(a):
        a[0] = 5
        return 0.0
    assert "changed its argument" in arr.evaluate({"f": sort_inplace}).message


def test_a_model_left_in_the_wrong_mode_or_with_new_weights_is_caught():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model.eval()
    before = core.snapshot(model)
    assert core.what_changed(before, model) is None
    model.train()
    assert "training mode" in core.what_changed(before, model)
    model.eval()
    with torch.no_grad():
        model[0].weight.add_(1)
    assert "weights changed" in core.what_changed(before, model)


# -- numbers of any type -----------------------------------------------------------------
@pytest.mark.parametrize("value", [2, 2.0, np.float32(2.0), np.int64(2), np.float64(2.0),
                                   torch.tensor(2.0), torch.tensor([2.0]), np.array(2.0),
                                   Decimal("2.0000"), Fraction(4, 2)])
def test_numbers_compare_as_numbers(value):
    assert_close(2.0, value, "x")
    assert_close(2, value, "x")


@pytest.mark.parametrize("value", [True, "2", [2.0], torch.tensor([2.0, 2.0]), None,
                                   np.array([2.0, 3.0]), Decimal("2.1"), Fraction(5, 2)])
def test_non_numbers_and_other_numbers_fail(value):
    with pytest.raises(Incorrect):
        assert_close(2.0, value, "x")


def test_an_object_that_equals_everything_still_fails():
    class Liar(float):
        def __eq__(self, other):
            return True
    class Any:
        def __eq__(self, other):
            return True
        __hash__ = None
    for value in (Liar(9.0), Any()):
        with pytest.raises(Incorrect):
            assert_close(2.0, value, "x")
        with pytest.raises(Incorrect):
            assert_same_items([1.0, 2.0], [value, value], "x")
    assert normalise_choice(Any()) is None


# -- order-free lists --------------------------------------------------------------------
def test_order_free_comparison():
    assert_same_items([1, 2, 2, {"a": 1}], [{"a": 1}, 2, 1, 2], "x")
    assert_same_items([1, 2], (2, 1), "x")
    for wrong in ([1, 2, 3], [1, 1, 2, {"a": 1}], [1, 2, 2, {"a": 2}], "12", None):
        with pytest.raises(Incorrect):
            assert_same_items([1, 2, 2, {"a": 1}], wrong, "x")
    P = FunctionProblem("f", reference=lambda n: list(range(n)), cases=[((3,), {})], unordered=True)
    assert P.evaluate({"f": lambda n: [2, 0, 1]}).correct
    assert P.evaluate({"f": lambda n: [2, 0, 0]}).status == INCORRECT
    strict = FunctionProblem("f", reference=lambda n: list(range(n)), cases=[((3,), {})])
    assert strict.evaluate({"f": lambda n: [2, 0, 1]}).status == INCORRECT


# -- multiple choice ---------------------------------------------------------------------
@pytest.mark.parametrize("text", ["b", "B", "(b)", "b)", "b.", " (B) ", "[b]", "option b", "b:",
                                  "(b) sending prompts to the API"])
def test_choice_letters_are_normalised(text):
    assert normalise_choice(text) == "b"


@pytest.mark.parametrize("text", ["", "bb", "ab", "because", "2", "b or c", None, 2])
def test_other_text_is_not_a_letter(text):
    assert normalise_choice(text) is None


def test_choice_problem():
    q = ChoiceProblem(var="answer", answer="b", mistakes={"a": "(a) uses weights."}, name="q")
    for right in ("b", "(B)", "b."):
        assert q.evaluate({"answer": right}).correct
    assert q.evaluate({"answer": "(a)"}).message == "(a) uses weights."
    assert q.evaluate({"answer": "c"}).status == INCORRECT
    assert "letters" in q.evaluate({"answer": "d"}).message
    assert q.evaluate({"answer": 2}).status == INCORRECT
    assert q.evaluate({"answer": core.____}).status == NOT_ATTEMPTED


def test_the_graders_replay_timeout_is_read_as_timed_out():
    def replay(x):   # what course_utils.grading.judge's replay raises for a call that ran out
        raise LearnerTimeout("your function did not finish within the time limit")
    assert FN.evaluate({"f": replay}).status == TIMED_OUT
    def own(x):      # a TimeoutError of the learner's own is an ordinary error
        raise TimeoutError("slow server")
    assert FN.evaluate({"f": own}).status == INCORRECT


def test_an_endless_loop_in_a_jupyter_kernel_gets_a_verdict(tmp_path):
    """The same check in a real kernel: the cell finishes, says timed out, and the kernel
    still runs the next cell."""
    import nbformat
    from helpers import errors, execute_notebook, output_text
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
                    "import torch\nfrom course_utils.exercises.core import FunctionProblem\n"
                    "q = FunctionProblem('f', reference=lambda x: x * 2, cases=[((1.0,), {})])\n"
                    "def f(x):\n    while True:\n        pass\nq.check()"),
                nbformat.v4.new_code_cell("def f(x):\n    return x * 2\nq.check()")]
    path = tmp_path / "loop.ipynb"
    nbformat.write(nb, path)
    out = execute_notebook(path, timeout=60, env={"COURSE_CHECK_TIME_LIMIT": "1"}, cwd=tmp_path)
    assert not errors(out), errors(out)
    assert "Timed out" in output_text(out.cells[0])
    assert "Correct" in output_text(out.cells[1])


def test_guarded_call_for_the_graders_sandbox():
    from course_utils.exercises.core import guarded_call
    assert guarded_call(lambda x: x + 1, (1,))["value"] == 2
    def spin(x):
        while True:
            pass
    assert guarded_call(spin, (1,), time_limit=0.3)["timed_out"]
    def naturals(n):
        k = 0
        while True:
            yield k
            k += 1
    assert guarded_call(naturals, (1,), max_items=5)["value"] == [0, 1, 2, 3, 4]
    def stuck(n):
        yield 1
        while True:
            pass
    assert guarded_call(stuck, (1,), time_limit=0.3)["timed_out"]
    def inplace(t):
        t += 1
        return t
    record = guarded_call(inplace, (torch.zeros(2),))
    assert record["changed"] == [("t", "has values changed in place")]
    assert isinstance(guarded_call(lambda: 1 / 0)["error"], ZeroDivisionError)
