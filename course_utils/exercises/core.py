"""The learner-side exercise API, modelled on Kaggle's learntools.

A lesson imports its questions and the learner calls ``q1.check()``, ``q1.hint()`` and
``q1.solution()``. A check reads the learner's variables from the notebook's namespace,
never raises, and says in plain words what is wrong: not attempted, a missing name, a wrong
type or shape, a wrong value (without giving the answer away), an exception inside the
learner's function (with the arguments that caused it), a missing ``return``.

Problem classes:

* :class:`EqualityProblem` -- variables that must equal expected values;
* :class:`FunctionProblem` -- a function checked against a reference on test cases, with
  known mistakes recognised and named;
* :class:`CustomProblem` -- any check written as a function that raises :class:`Incorrect`;
* :class:`ThoughtProblem` -- a question to think about, with a discussion as its solution;
* :class:`MultipartProblem` -- ``q3.a``, ``q3.b``, ... checked together or one by one.

Comparisons are expected-first with exact type checks, so an object whose ``__eq__`` always
says True, or a subclass that lies about its value, does not pass.
"""
from __future__ import annotations

import html
import math
import sys
import traceback
from typing import Any, Callable

import numpy as np

# ----------------------------------------------------------------------------------------
# The blank a lesson leaves for the learner to fill in
# ----------------------------------------------------------------------------------------


class _Blank:
    """The placeholder ``____`` in an unsolved exercise. Any use of it says so plainly."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "____"

    def _complain(self, *args, **kwargs):
        raise TypeError("This is still the blank ____ of an exercise: replace it with your answer.")

    __call__ = __getitem__ = __add__ = __mul__ = __sub__ = __truediv__ = _complain
    __iter__ = __len__ = __float__ = __int__ = __bool__ = _complain


____ = _Blank()


def is_blank(value) -> bool:
    return value is ____


# ----------------------------------------------------------------------------------------
# Outcomes
# ----------------------------------------------------------------------------------------
CORRECT, INCORRECT, NOT_ATTEMPTED, INFO, CHECKER_ERROR = (
    "correct", "incorrect", "not attempted", "info", "checker error")

_COLOURS = {CORRECT: "#2e7d32", INCORRECT: "#c62828", NOT_ATTEMPTED: "#ef6c00",
            INFO: "#1565c0", CHECKER_ERROR: "#6a1b9a"}
_TITLES = {CORRECT: "Correct", INCORRECT: "Incorrect", NOT_ATTEMPTED: "Not attempted",
           INFO: "Note", CHECKER_ERROR: "Checker problem"}


class Outcome:
    """The result of a check: a status and a plain-words message (Markdown)."""

    def __init__(self, status: str, message: str = "", name: str = ""):
        self.status, self.message, self.name = status, message, name

    @property
    def correct(self) -> bool:
        return self.status == CORRECT

    def __str__(self) -> str:
        label = f"{_TITLES[self.status]}" + (f" ({self.name})" if self.name else "")
        return f"{label}: {self.message}" if self.message else label

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        colour = _COLOURS[self.status]
        label = _TITLES[self.status]
        text = f'<span style="color:{colour}; font-weight:bold">{label}</span>'
        return text + (f": {self.message}" if self.message else "")

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message, "name": self.name}


class Incorrect(Exception):
    """Raised inside a check to say what is wrong, in words meant for the learner."""


class NotAttempted(Exception):
    """Raised inside a check when the learner has not started the exercise."""


def show(obj) -> None:
    """Display ``obj`` as Markdown in Jupyter, as text in a terminal."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
        if get_ipython() is not None:
            markdown = obj._repr_markdown_() if hasattr(obj, "_repr_markdown_") else str(obj)
            display(Markdown(markdown))
            return
    except ImportError:
        pass
    print(obj)


# ----------------------------------------------------------------------------------------
# Where the learner's variables live
# ----------------------------------------------------------------------------------------
_bound: dict | None = None


def bind(namespace: dict) -> None:
    """Read learners' variables from ``namespace`` (e.g. ``bind(globals())`` in a script).

    In Jupyter this is not needed: checks read the notebook's namespace by themselves.
    """
    global _bound
    _bound = namespace


def learner_namespace() -> dict:
    if _bound is not None:
        return _bound
    try:
        from IPython import get_ipython
        shell = get_ipython()
        if shell is not None:
            return shell.user_ns
    except ImportError:
        pass
    return vars(sys.modules["__main__"])


# ----------------------------------------------------------------------------------------
# Describing and comparing values (expected first, exact types)
# ----------------------------------------------------------------------------------------
def _torch():
    import torch
    return torch


def type_name(value) -> str:
    t = type(value)
    module = t.__module__
    if module in ("builtins",):
        return t.__name__
    if module.startswith("torch"):
        return "torch." + t.__name__
    if module.startswith("numpy"):
        return "numpy." + t.__name__
    return t.__name__


def describe(value) -> str:
    """A short description that trusts only exact, known types (never the value's repr)."""
    torch = _torch()
    t = type(value)
    if value is None:
        return "None"
    if value is ____:
        return "the blank ____"
    if t in (torch.Tensor, torch.nn.Parameter):
        return f"a tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).replace('torch.', '')}"
    if t is np.ndarray:
        return f"a NumPy array of shape {value.shape}"
    if t in (int, float, bool, str):
        return f"the {t.__name__} {value!r}" if t is not str or len(value) < 60 else "a long str"
    if t in (list, tuple, dict, set):
        return f"a {t.__name__} of length {len(value)}"
    return f"an object of type {type_name(value)}"


_REAL_TYPES = (int, float, np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
               np.int64, np.uint8)


def as_real(value, name: str) -> float:
    """``value`` as a Python float if it is exactly a known number type, else Incorrect."""
    torch = _torch()
    t = type(value)
    if t is bool or t is np.bool_:
        raise Incorrect(f"`{name}` should be a number, but it is a bool.")
    if t in _REAL_TYPES:
        return float(value)
    if t is torch.Tensor:
        if value.numel() != 1:
            raise Incorrect(f"`{name}` should be a single number, but it is {describe(value)}.")
        return float(value.detach().cpu().reshape(()).item())
    raise Incorrect(f"`{name}` should be a number, but it is {describe(value)}.")


def assert_close(expected, actual, name: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Raise :class:`Incorrect` unless ``actual`` matches ``expected``.

    ``expected`` comes first and decides the rules: its type (exactly) and shape.
    The message says what differs without printing the expected value.
    """
    torch = _torch()
    if actual is ____:
        raise NotAttempted(f"`{name}` is still the blank ____.")
    if actual is None and expected is not None:
        raise Incorrect(f"`{name}` is None. Did you forget to assign it (or to `return` it)?")
    et = type(expected)
    if et in (float, int) or et in _REAL_TYPES:
        value = as_real(actual, name)
        if math.isnan(value):
            raise Incorrect(f"`{name}` is NaN.")
        if not math.isclose(float(expected), value, rel_tol=rtol, abs_tol=atol):
            raise Incorrect(f"`{name}` has the wrong value ({value:.6g}).")
        return
    if et is bool:
        if type(actual) is not bool:
            raise Incorrect(f"`{name}` should be True or False, but it is {describe(actual)}.")
        if actual is not expected:
            raise Incorrect(f"`{name}` is {actual}: think again.")
        return
    if et is str:
        if type(actual) is not str:
            raise Incorrect(f"`{name}` should be a str, but it is {describe(actual)}.")
        if expected.strip().lower() != actual.strip().lower():
            raise Incorrect(f"`{name}` is not the expected answer.")
        return
    if et is torch.Tensor:
        if type(actual) is np.ndarray:
            actual = torch.from_numpy(actual)
        if type(actual) not in (torch.Tensor, torch.nn.Parameter):
            raise Incorrect(f"`{name}` should be a torch tensor, but it is {describe(actual)}.")
        if tuple(actual.shape) != tuple(expected.shape):
            raise Incorrect(f"`{name}` should have shape {tuple(expected.shape)}, "
                            f"but it has shape {tuple(actual.shape)}.")
        if expected.is_floating_point() and not (actual.is_floating_point() or actual.is_complex()):
            raise Incorrect(f"`{name}` should hold floating-point numbers, but its dtype is "
                            f"{str(actual.dtype).replace('torch.', '')}.")
        a = actual.detach().cpu().to(expected.dtype)
        e = expected.detach().cpu()
        if torch.isnan(a).any() and not torch.isnan(e).any():
            raise Incorrect(f"`{name}` contains NaN values.")
        if not torch.allclose(e, a, rtol=rtol, atol=atol, equal_nan=True):
            diff = (a.double() - e.double()).abs()
            diff = torch.nan_to_num(diff, nan=float("inf"))
            where = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), tuple(e.shape))) if e.dim() else ()
            place = f" at index {where}" if where else ""
            raise Incorrect(f"`{name}` has the right shape but wrong values "
                            f"(largest difference {float(diff.max()):.3g}{place}).")
        return
    if et in (list, tuple):
        if type(actual) is not et:
            raise Incorrect(f"`{name}` should be a {et.__name__}, but it is {describe(actual)}.")
        if len(actual) != len(expected):
            raise Incorrect(f"`{name}` should have {len(expected)} items, but it has {len(actual)}.")
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_close(e, a, f"{name}[{i}]", rtol, atol)
        return
    if et is dict:
        if type(actual) is not dict:
            raise Incorrect(f"`{name}` should be a dict, but it is {describe(actual)}.")
        missing = [k for k in expected if k not in actual]
        if missing:
            raise Incorrect(f"`{name}` is missing the key(s) {missing}.")
        for k in expected:
            assert_close(expected[k], actual[k], f"{name}[{k!r}]", rtol, atol)
        return
    if type(actual) is not et:
        raise Incorrect(f"`{name}` should be of type {type_name(expected)}, but it is {describe(actual)}.")
    if not (expected == actual):
        raise Incorrect(f"`{name}` has the wrong value.")


def call_learner(fn: Callable, name: str, args: tuple = (), kwargs: dict | None = None):
    """Call the learner's function; turn its failures into plain-words outcomes."""
    kwargs = kwargs or {}
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAttempted(f"`{name}` still raises NotImplementedError: write its body.")
    except TypeError as error:
        if "blank ____" in str(error):
            raise NotAttempted(f"`{name}` still uses the blank ____.")
        raise Incorrect(_learner_error(name, args, kwargs, error))
    except (Exception, SystemExit) as error:  # the learner's code, not ours
        raise Incorrect(_learner_error(name, args, kwargs, error))


def format_call(name: str, args: tuple, kwargs: dict) -> str:
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _short(value) -> str:
    torch = _torch()
    if type(value) is torch.Tensor:
        if value.numel() <= 6:
            return "tensor(" + repr(value.tolist()) + ")"
        return f"<tensor of shape {tuple(value.shape)}>"
    if type(value) in (int, float, bool, str) or value is None:
        return repr(value)
    return f"<{type_name(value)}>"


def _learner_error(name, args, kwargs, error) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    for frame in reversed(frames):
        if "course_utils" not in frame.filename:
            where = f" (line {frame.lineno}: `{(frame.line or '').strip()}`)"
            break
    message = html.escape(str(error))[:300]
    return (f"calling `{format_call(name, args, kwargs)}` raised "
            f"{type(error).__name__}: {message}{where}")


# ----------------------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------------------
class Problem:
    """One exercise. Subclasses implement :meth:`check_values`.

    ``vars`` names the learner's variables the check reads; ``hints`` are shown one at a
    time by ``hint()``; ``solution_text`` (Markdown) is shown by ``solution()``.
    """

    vars: list[str] = []
    hints: list[str] = []
    solution_text: str = ""
    correct_message: str = ""
    name: str = ""

    def __init__(self, name: str = "", vars: list[str] | None = None, hints=None,
                 solution: str | None = None, correct_message: str | None = None):
        self.name = name or self.name
        if vars is not None:
            self.vars = list(vars)
        if hints is not None:
            self.hints = [hints] if isinstance(hints, str) else list(hints)
        if solution is not None:
            self.solution_text = solution
        if correct_message is not None:
            self.correct_message = correct_message
        self._hints_shown = 0

    # -- what subclasses write ----------------------------------------------------------
    def check_values(self, **values) -> None:
        """Raise Incorrect/NotAttempted, or return None when the answer is right."""
        raise NotImplementedError

    # -- the learner's buttons ------------------------------------------------------------
    def evaluate(self, namespace: dict | None = None) -> Outcome:
        """Check the answer and return an :class:`Outcome` (never raises)."""
        ns = learner_namespace() if namespace is None else namespace
        try:
            missing = [v for v in self.vars if v not in ns]
            if missing and len(missing) == len(self.vars):
                names = ", ".join(f"`{v}`" for v in missing)
                return Outcome(NOT_ATTEMPTED, f"define {names} first (and run its cell).", self.name)
            if missing:
                names = ", ".join(f"`{v}`" for v in missing)
                return Outcome(INCORRECT, f"{names} is not defined: did you run the cell that "
                                          f"defines it, and spell it this way?", self.name)
            values = {v: ns[v] for v in self.vars}
            if values and all(v is ____ for v in values.values()):
                return Outcome(NOT_ATTEMPTED, "replace the blank `____` with your answer.", self.name)
            self.check_values(**values)
        except NotAttempted as reason:
            return Outcome(NOT_ATTEMPTED, str(reason), self.name)
        except Incorrect as reason:
            return Outcome(INCORRECT, str(reason), self.name)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # a bug in a check must not look like the learner's
            return Outcome(CHECKER_ERROR, f"the check itself failed ({type(error).__name__}: "
                                          f"{html.escape(str(error))[:200]}). Your answer may be "
                                          f"fine; please tell your instructor.", self.name)
        return Outcome(CORRECT, self.correct_message, self.name)

    def check(self, namespace: dict | None = None) -> None:
        """Check your answer and say what is wrong, if anything."""
        show(self.evaluate(namespace))

    def hint(self, n: int | None = None) -> None:
        """Show the next hint (or hint number ``n``)."""
        if not self.hints:
            show(Outcome(INFO, "there is no hint for this one: try `solution()`."))
            return
        index = self._hints_shown if n is None else max(0, min(int(n) - 1, len(self.hints) - 1))
        index = min(index, len(self.hints) - 1)
        self._hints_shown = index + 1
        more = f" ({index + 1} of {len(self.hints)})" if len(self.hints) > 1 else ""
        show(Outcome(INFO, f"**Hint{more}:** {self.hints[index]}"))

    def solution(self) -> None:
        """Show our solution."""
        show(Outcome(INFO, "**Solution:**\n\n" + self.solution_text))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: call .check(), .hint() or .solution()>"


class EqualityProblem(Problem):
    """Variables that must equal expected values.

    ``expected`` maps each variable name to its value, or is a callable returning that
    mapping (computed lazily, e.g. from data the notebook built). ``mistakes`` lists
    ``(values_dict_or_callable, message)`` pairs naming known wrong answers.
    """

    def __init__(self, expected, rtol=1e-4, atol=1e-6, mistakes=(), **kwargs):
        names = kwargs.pop("vars", None) or (list(expected) if isinstance(expected, dict) else None)
        if not names:
            raise ValueError("EqualityProblem needs `vars` when `expected` is a callable.")
        super().__init__(vars=names, **kwargs)
        self._expected, self.rtol, self.atol, self.mistakes = expected, rtol, atol, list(mistakes)

    def expected(self) -> dict:
        return self._expected() if callable(self._expected) else self._expected

    def check_values(self, **values):
        for var, value in values.items():
            if value is ____:
                raise NotAttempted(f"`{var}` is still the blank ____.")
        expected = self.expected()
        for bad, message in self.mistakes:
            if self._matches(bad() if callable(bad) else bad, values):
                raise Incorrect(message)
        for var in self.vars:
            assert_close(expected[var], values[var], var, self.rtol, self.atol)


    def _matches(self, bad: dict, values: dict) -> bool:
        try:
            for var in self.vars:
                assert_close(bad[var], values[var], var, self.rtol, self.atol)
        except (Incorrect, NotAttempted):
            return False
        return True


class FunctionProblem(Problem):
    """A function the learner writes, checked against ``reference`` on ``cases``.

    ``cases`` is a list of ``(args, kwargs)`` pairs, or a callable returning one (so test
    inputs can be random but seeded). Inputs are copied before each call, so a function that
    changes its inputs in place cannot spoil the comparison. ``mistakes`` is a list of
    ``(wrong_function, message)``: when the learner's output matches a known wrong function
    on every case, the message names the mistake.
    """

    def __init__(self, var: str, reference: Callable, cases, mistakes=(), rtol=1e-4,
                 atol=1e-6, **kwargs):
        super().__init__(vars=[var], **kwargs)
        self.var, self.reference, self._cases = var, reference, cases
        self.mistakes, self.rtol, self.atol = list(mistakes), rtol, atol

    def cases(self) -> list:
        cases = self._cases() if callable(self._cases) else self._cases
        out = []
        for case in cases:
            if isinstance(case, tuple) and len(case) == 2 and isinstance(case[1], dict):
                out.append((tuple(case[0]), dict(case[1])))
            else:
                out.append((tuple(case) if isinstance(case, (tuple, list)) else (case,), {}))
        return out

    @staticmethod
    def _copy(value):
        torch = _torch()
        if type(value) is torch.Tensor:
            return value.clone()
        if type(value) is np.ndarray:
            return value.copy()
        if type(value) in (list, tuple):
            return type(value)(FunctionProblem._copy(v) for v in value)
        if type(value) is dict:
            return {k: FunctionProblem._copy(v) for k, v in value.items()}
        return value

    def check_values(self, **values):
        fn = values[self.var]
        if fn is ____:
            raise NotAttempted(f"`{self.var}` is still the blank ____.")
        if not callable(fn) or isinstance(fn, type):
            raise Incorrect(f"`{self.var}` should be a function, but it is {describe(fn)}.")
        cases = self.cases()
        outputs = []
        for args, kwargs in cases:
            a, k = self._copy(args), self._copy(kwargs)
            out = call_learner(fn, self.var, a, k)
            if out is None:
                raise Incorrect(f"`{format_call(self.var, args, kwargs)}` returned None. "
                                f"Did you forget a `return` statement?")
            outputs.append(out)
        for wrong, message in self.mistakes:
            if self._matches(wrong, cases, outputs):
                raise Incorrect(message)
        for (args, kwargs), out in zip(cases, outputs):
            expected = self.reference(*self._copy(args), **self._copy(kwargs))
            try:
                assert_close(expected, out, "the result", self.rtol, self.atol)
            except Incorrect as reason:
                raise Incorrect(f"for `{format_call(self.var, args, kwargs)}`, {reason}")

    def _matches(self, wrong, cases, outputs) -> bool:
        for (args, kwargs), out in zip(cases, outputs):
            try:
                assert_close(wrong(*self._copy(args), **self._copy(kwargs)), out, "x", self.rtol, self.atol)
            except (Incorrect, NotAttempted):
                return False
            except Exception:
                return False
        return True


class CustomProblem(Problem):
    """Any check: ``checker(**values)`` raises :class:`Incorrect` with a message, or returns."""

    def __init__(self, vars: list[str], checker: Callable, **kwargs):
        super().__init__(vars=vars, **kwargs)
        self.checker = checker

    def check_values(self, **values):
        for var, value in values.items():
            if value is ____:
                raise NotAttempted(f"`{var}` is still the blank ____.")
        self.checker(**values)


class ThoughtProblem(Problem):
    """A question to think about. ``check()`` reminds you; ``solution()`` gives our view.

    If ``vars`` names a variable (say ``answer_q4``), a non-empty string there counts as
    attempted, so instructors can collect written answers.
    """

    def __init__(self, min_words: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.min_words = min_words

    def evaluate(self, namespace: dict | None = None) -> Outcome:
        if not self.vars:
            return Outcome(INFO, "this is a thought question: there is nothing to check. "
                                 "Think it over, then compare with `solution()`.", self.name)
        return super().evaluate(namespace)

    def check_values(self, **values):
        for var, value in values.items():
            if value is ____ or (type(value) is str and not value.strip()):
                raise NotAttempted(f"write your answer in `{var}` as a string.")
            if type(value) is not str:
                raise Incorrect(f"`{var}` should be your answer written as a str, not {describe(value)}.")
            if len(value.split()) < self.min_words:
                raise Incorrect(f"`{var}` has {len(value.split())} words; write at least "
                                f"{self.min_words} to explain your reasoning.")


class MultipartProblem(Problem):
    """Several parts, reachable as attributes (``q3.a.check()``) or checked together."""

    def __init__(self, parts: dict[str, Problem], **kwargs):
        super().__init__(**kwargs)
        self.parts = parts
        for label, part in parts.items():
            part.name = part.name or f"{self.name}.{label}"
            setattr(self, label, part)
        self.vars = [v for p in parts.values() for v in p.vars]

    def evaluate(self, namespace: dict | None = None) -> Outcome:
        outcomes = [p.evaluate(namespace) for p in self.parts.values()]
        if all(o.status in (CORRECT, INFO) for o in outcomes):
            return Outcome(CORRECT, self.correct_message, self.name)
        if all(o.status in (NOT_ATTEMPTED, INFO) for o in outcomes):
            return Outcome(NOT_ATTEMPTED, "none of the parts is done yet.", self.name)
        status = CHECKER_ERROR if any(o.status == CHECKER_ERROR for o in outcomes) else INCORRECT
        lines = [f"- part **{label}**: {o._repr_markdown_()}"
                 for label, o in zip(self.parts, outcomes)]
        return Outcome(status, "\n" + "\n".join(lines), self.name)
