"""The check API: plain-words outcomes, never a traceback, no way to fake a pass."""
import math

import numpy as np
import pytest
import torch

from course_utils.exercises import core
from course_utils.exercises.core import (CORRECT, INCORRECT, NOT_ATTEMPTED, CustomProblem,
                                         EqualityProblem, FunctionProblem, Incorrect,
                                         MultipartProblem, ThoughtProblem, ____)


def double(x):
    return x * 2


EQ = EqualityProblem(name="eq", expected={"x": torch.tensor([1.0, 2.0])})
NUM = EqualityProblem(name="num", expected={"v": 0.5})
FN = FunctionProblem("f", reference=double, cases=[((torch.tensor([1.0, 2.0]),), {}), ((3.0,), {})],
                     mistakes=[(lambda x: x * 3, "you tripled instead of doubling")])


def test_not_attempted_missing_and_blank():
    assert EQ.evaluate({}).status == NOT_ATTEMPTED
    assert EQ.evaluate({"x": ____}).status == NOT_ATTEMPTED
    def stub(x):
        raise NotImplementedError()
    assert FN.evaluate({"f": stub}).status == NOT_ATTEMPTED


def test_correct_values_pass():
    assert EQ.evaluate({"x": torch.tensor([1.0, 2.0])}).correct
    assert EQ.evaluate({"x": torch.tensor([1.0, 2.0], dtype=torch.float64)}).correct
    assert NUM.evaluate({"v": 0.5}).correct
    assert NUM.evaluate({"v": np.float32(0.5)}).correct
    assert NUM.evaluate({"v": torch.tensor(0.5)}).correct
    assert FN.evaluate({"f": double}).correct


@pytest.mark.parametrize("value, words", [
    ([1.0, 2.0], "torch tensor"),
    (torch.tensor([[1.0, 2.0]]), "shape (1, 2)"),
    (torch.tensor([1, 2]), "floating-point"),
    (torch.tensor([1.0, 2.5]), "wrong values"),
    (torch.tensor([1.0, float("nan")]), "NaN"),
    (None, "None"),
])
def test_wrong_tensor_answers_say_what_is_wrong(value, words):
    out = EQ.evaluate({"x": value})
    assert out.status == INCORRECT and words in out.message, out.message
    assert "1.0, 2.0" not in out.message  # the expected value is not leaked


def test_numbers_wrong_type_nan_and_bool():
    assert NUM.evaluate({"v": "0.5"}).status == INCORRECT
    assert NUM.evaluate({"v": True}).status == INCORRECT
    assert NUM.evaluate({"v": float("nan")}).status == INCORRECT
    assert NUM.evaluate({"v": 0.6}).status == INCORRECT


class AlwaysEqual:
    def __eq__(self, other):
        return True
    __hash__ = None


class LyingFloat(float):
    def __eq__(self, other):
        return True


class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return True


def test_cheating_objects_do_not_pass():
    assert NUM.evaluate({"v": AlwaysEqual()}).status == INCORRECT
    assert NUM.evaluate({"v": LyingFloat(9.0)}).status == INCORRECT
    lying = torch.tensor([9.0, 9.0]).as_subclass(LyingTensor)
    assert EQ.evaluate({"x": lying}).status == INCORRECT
    assert EqualityProblem(expected={"s": "b"}).evaluate({"s": AlwaysEqual()}).status == INCORRECT
    assert FN.evaluate({"f": lambda x: AlwaysEqual()}).status == INCORRECT


def test_function_errors_are_reported_with_arguments():
    def broken(x):
        return x / undefined_name  # noqa: F821
    out = FN.evaluate({"f": broken})
    assert out.status == INCORRECT
    assert "NameError" in out.message and "f(tensor([1.0, 2.0]))" in out.message


def test_missing_return_and_known_mistake():
    def no_return(x):
        x * 2
    assert "return" in FN.evaluate({"f": no_return}).message
    out = FN.evaluate({"f": lambda x: x * 3})
    assert out.status == INCORRECT and "tripled" in out.message


def test_function_problem_rejects_non_functions_and_inplace_changes():
    assert FN.evaluate({"f": 3}).status == INCORRECT
    def inplace(x):
        if torch.is_tensor(x):
            x.mul_(2)
            return x
        return x * 2
    # the inputs are copies, so the comparison is not spoilt; but a changed argument is a
    # mistake unless the problem allows it (issue 17)
    out = FN.evaluate({"f": inplace})
    assert out.status == INCORRECT and "changed its argument `x`" in out.message
    allowing = FunctionProblem(var="f", reference=FN.reference, cases=FN._cases, may_change=("x",))
    assert allowing.evaluate({"f": inplace}).correct


def test_sys_exit_inside_learner_code_is_contained():
    def leave(x):
        raise SystemExit(3)
    assert FN.evaluate({"f": leave}).status == INCORRECT


def test_a_bug_in_the_checker_is_not_blamed_on_the_learner():
    def buggy(**values):
        raise RuntimeError("oops")
    out = CustomProblem(vars=["a"], checker=buggy).evaluate({"a": 1})
    assert out.status == core.CHECKER_ERROR and "instructor" in out.message


def test_custom_thought_and_multipart():
    def positive(a):
        if a <= 0:
            raise Incorrect("`a` should be positive.")
    pos = CustomProblem(vars=["a"], checker=positive)
    assert pos.evaluate({"a": 2}).correct and pos.evaluate({"a": -1}).status == INCORRECT
    thought = ThoughtProblem(name="t")
    assert thought.evaluate({}).status == core.INFO
    written = ThoughtProblem(vars=["ans"], min_words=3)
    assert written.evaluate({"ans": "  "}).status == NOT_ATTEMPTED
    assert written.evaluate({"ans": "too short"}).status == INCORRECT
    assert written.evaluate({"ans": "long enough answer here"}).correct
    multi = MultipartProblem(name="m", parts={"a": pos, "b": NUM})
    assert multi.a is pos
    assert multi.evaluate({"a": 1, "v": 0.5}).correct
    assert multi.evaluate({}).status == NOT_ATTEMPTED
    mixed = multi.evaluate({"a": 1, "v": 0.7})
    assert mixed.status == INCORRECT and "part **b**" in mixed.message


def test_partially_missing_names():
    two = EqualityProblem(expected={"a": 1.0, "b": 2.0})
    out = two.evaluate({"a": 1.0})
    assert out.status == INCORRECT and "`b` is not defined" in out.message


def test_outcomes_render_as_markdown_and_text(capsys):
    out = EQ.evaluate({"x": [1]})
    assert "Incorrect" in str(out) and "color" in out._repr_markdown_()
    EQ.check({"x": torch.tensor([1.0, 2.0])})  # in a terminal, check() prints
    assert "Correct" in capsys.readouterr().out
    EQ.hint()
    EQ.solution()


def test_hints_cycle():
    p = EqualityProblem(expected={"a": 1.0}, hints=["first", "second"])
    p.hint()
    p.hint()
    p.hint()  # past the last: stays on the last, no error
    assert p._hints_shown == 2


def test_blank_complains_in_plain_words():
    with pytest.raises(TypeError, match="blank"):
        ____ + 1
    assert repr(____) == "____"
    assert core.describe(____) == "the blank ____"
