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
import os
import re
import signal
import sys
import threading
import time
import traceback
import types
from decimal import Decimal
from fractions import Fraction
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
CORRECT, INCORRECT, NOT_ATTEMPTED, INFO, CHECKER_ERROR, TIMED_OUT = (
    "correct", "incorrect", "not attempted", "info", "checker error", "timed out")

_COLOURS = {CORRECT: "#2e7d32", INCORRECT: "#c62828", NOT_ATTEMPTED: "#ef6c00",
            INFO: "#1565c0", CHECKER_ERROR: "#6a1b9a", TIMED_OUT: "#ad1457"}
_TITLES = {CORRECT: "Correct", INCORRECT: "Incorrect", NOT_ATTEMPTED: "Not attempted",
           INFO: "Note", CHECKER_ERROR: "Checker problem", TIMED_OUT: "Timed out"}


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


class TimedOut(Incorrect):
    """Raised inside a check when the learner's code ran past its time limit (or yielded
    without end). The outcome's status is :data:`TIMED_OUT`: worth 0, like a wrong answer."""


class LearnerTimeout(TimeoutError):
    """What a stand-in for the learner's function raises when the real one did not finish in
    time elsewhere (the grader's sandbox): a check reports it as :data:`TIMED_OUT`."""


def show(obj) -> None:
    """Display ``obj`` as Markdown in Jupyter, as text in a terminal."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
        shell = get_ipython()
        # A Jupyter (or Colab) kernel renders Markdown; terminal IPython would print its repr.
        if shell is not None and getattr(shell, "kernel", None) is not None:
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
               np.int64, np.uint8, np.uint16, np.uint32, np.uint64, Decimal, Fraction)


def is_number(value) -> bool:
    """True for a value :func:`as_real` reads as one number (exact known types only)."""
    torch = _torch()
    t = type(value)
    if t in _REAL_TYPES:
        return True
    if t in (torch.Tensor, np.ndarray):
        return value.size == 1 if t is np.ndarray else value.numel() == 1
    return False


def as_real(value, name: str) -> float:
    """``value`` as a Python float if it is exactly a known number type, else Incorrect.

    Numbers are numbers whatever their type: int, float, a NumPy scalar, ``Decimal``,
    ``Fraction``, or a one-element tensor or array. Bools are not numbers here, and neither is
    any other type (so an object that claims to equal everything never passes).
    """
    torch = _torch()
    t = type(value)
    if t is bool or t is np.bool_:
        raise Incorrect(f"`{name}` should be a number, but it is a bool.")
    if t in _REAL_TYPES:
        try:
            return float(value)
        except (OverflowError, ValueError):
            return float("nan")
    if t is torch.Tensor:
        if value.numel() != 1:
            raise Incorrect(f"`{name}` should be a single number, but it is {describe(value)}.")
        if value.dtype == torch.bool or value.is_complex():
            raise Incorrect(f"`{name}` should be a number, but it is a {value.dtype} tensor.")
        return float(value.detach().cpu().reshape(()).item())
    if t is np.ndarray:
        if value.size != 1 or value.dtype.kind not in "iuf":
            raise Incorrect(f"`{name}` should be a single number, but it is {describe(value)}.")
        return float(value.reshape(()).item())
    raise Incorrect(f"`{name}` should be a number, but it is {describe(value)}.")


# ----------------------------------------------------------------------------------------
# Guards: time limits, bounded iteration, unchanged arguments, normalised choices
# ----------------------------------------------------------------------------------------
TIME_LIMIT = float(os.environ.get("COURSE_CHECK_TIME_LIMIT", "10"))
"""Seconds the learner's code may run in one check, all its calls together."""

_budget = threading.local()   # the deadline of the check being evaluated, per thread


class _Alarm(BaseException):
    """Raised into the learner's code when its time is up. A BaseException, so that
    ``except Exception`` in the learner's code does not swallow it."""


def _remaining(limit: float | None) -> float:
    deadline = getattr(_budget, "deadline", None)
    left = float("inf") if deadline is None else deadline - time.monotonic()
    if limit is not None:
        left = min(left, limit)
    return TIME_LIMIT if left == float("inf") else left


def _run_with_signal(fn, seconds: float):
    """Run ``fn()`` in the main thread with SIGALRM as a stopwatch (works in a plain process
    and in a Jupyter kernel, whose cells run in the main thread). The alarm fires again every
    50 ms until ``fn`` gives up, so a bare ``except:`` in a loop cannot hold it off for long.
    Any timer already set (e.g. the grader's ``signal.alarm``) is put back afterwards."""
    state = {"active": True, "fired": 0}

    def raiser(frame, event, arg):
        # after the first alarm: every line of the learner's code raises again, so that an
        # alarm caught by a bare ``except:`` escapes at the first line of its handler
        if state["active"] and event == "line" and frame.f_code.co_filename != __file__:
            raise _Alarm()
        return raiser if state["active"] else None

    def handler(signum, frame):
        if state["active"]:
            state["fired"] += 1
            sys.settrace(raiser)
            f = frame
            while f is not None and f is not here:   # the learner's frames only
                if f.f_code.co_filename != __file__:
                    f.f_trace = raiser
                f = f.f_back
            raise _Alarm()

    here = sys._getframe()
    start = time.monotonic()
    old_trace = sys.gettrace()
    old_handler = signal.signal(signal.SIGALRM, handler)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, 0)
    if old_delay > 0:
        seconds = min(seconds, old_delay)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), 0.05)
        try:
            out = fn()
        finally:
            state["active"] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        if state["fired"]:
            sys.settrace(old_trace)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:
            left = old_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), old_interval)
    if state["fired"]:   # the learner's code swallowed the alarm and went on
        raise _Alarm()
    return out


def _run_with_trace(fn, seconds: float):
    """Outside the main thread (or without SIGALRM): a trace function that stops Python code
    at its next line once time is up. It cannot interrupt a blocking C call such as a long
    ``time.sleep``; the verdict then comes when that call returns."""
    deadline = time.monotonic() + seconds
    fired = []

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            fired.append(1)
            raise _Alarm()
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        out = fn()
    finally:
        sys.settrace(old)
    if fired or time.monotonic() > deadline:
        raise _Alarm()
    return out


def run_limited(fn: Callable[[], Any], seconds: float):
    """``fn()`` under a time limit: its value, or :class:`_Alarm` once ``seconds`` are up."""
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        return _run_with_signal(fn, seconds)
    return _run_with_trace(fn, seconds)


def take(iterable, limit: int, what: str, time_limit: float | None = None) -> list:
    """At most ``limit`` items of what the learner's code returned or yielded, under the time
    limit. ``what`` names the call in messages. Raises :class:`TimedOut` or
    :class:`Incorrect` (an endless or failing iterator), never hangs."""
    torch = _torch()
    if type(iterable) in (torch.Tensor, np.ndarray, str, bytes, dict):
        raise Incorrect(f"`{what}` should give a sequence of items, but it gave {describe(iterable)}.")
    items: list = []

    def consume():
        iterator = iter(iterable)
        for item in iterator:
            items.append(item)
            if len(items) >= limit:
                break

    try:
        run_limited(consume, _remaining(time_limit))
    except _Alarm:
        raise TimedOut(f"`{what}` was still producing items after {len(items)} of them when "
                       f"its time ran out: does a loop in it never end?") from None
    except TypeError as error:
        if not items and "not iterable" in str(error):
            raise Incorrect(f"`{what}` should return (or yield) a sequence of items, but it "
                            f"returned {describe(iterable)}.") from None
        raise Incorrect(f"while iterating over `{what}`: TypeError: "
                        f"{html.escape(str(error))[:200]}") from None
    except (Exception, SystemExit) as error:
        raise Incorrect(f"while iterating over `{what}` (after {len(items)} items): "
                        f"{type(error).__name__}: {html.escape(str(error))[:200]}") from None
    return items


def snapshot(value, depth: int = 0):
    """A deep copy of what a function could change in place: tensors, arrays, lists, dicts,
    sets, a model's parameters, buffers and train/eval flags. Other objects are kept as they
    are (compared by identity)."""
    torch = _torch()
    if depth > 6:
        return value
    t = type(value)
    if t in (torch.Tensor, torch.nn.Parameter):
        return ("tensor", value.detach().clone())
    if t is np.ndarray:
        return ("array", value.copy())
    if t in (list, tuple):
        return (t.__name__, [snapshot(v, depth + 1) for v in value])
    if t is dict:
        return ("dict", [(k, snapshot(v, depth + 1)) for k, v in value.items()])
    if t in (set, frozenset):
        return ("set", set(value))
    if isinstance(value, torch.nn.Module):
        return ("module", {k: v.detach().clone() for k, v in value.state_dict().items()},
                {name: m.training for name, m in value.named_modules()})
    return ("object", value)


def what_changed(before, value) -> str | None:
    """How ``value`` differs from ``snapshot`` ``before`` (None if it does not)."""
    torch = _torch()
    kind = before[0]
    try:
        if kind == "tensor":
            if type(value) not in (torch.Tensor, torch.nn.Parameter) or value.shape != before[1].shape:
                return "was replaced"
            if not torch.equal(value.detach(), before[1]) and not (
                    torch.isnan(before[1]).any() and torch.allclose(value.detach(), before[1], equal_nan=True)):
                return "has values changed in place"
            return None
        if kind == "array":
            if type(value) is not np.ndarray or value.shape != before[1].shape:
                return "was replaced"
            return None if np.array_equal(value, before[1], equal_nan=value.dtype.kind == "f")                 else "has values changed in place"
        if kind in ("list", "tuple"):
            if len(value) != len(before[1]):
                return f"changed length (from {len(before[1])} to {len(value)} items)"
            for i, (b, v) in enumerate(zip(before[1], value)):
                change = what_changed(b, v)
                if change:
                    return f"item {i} {change}"
            return None
        if kind == "dict":
            if [k for k, _ in before[1]] != list(value):
                return "had keys added or removed"
            for k, b in before[1]:
                change = what_changed(b, value[k])
                if change:
                    return f"entry {k!r} {change}"
            return None
        if kind == "set":
            return None if value == before[1] else "had items added or removed"
        if kind == "module":
            state = value.state_dict()
            for k, v in before[1].items():
                if k not in state or not torch.equal(state[k].detach(), v):
                    return f"had its weights changed (`{k}`)"
            modes = {name: m.training for name, m in value.named_modules()}
            for name, mode in before[2].items():
                if modes.get(name) != mode:
                    part = f" (`{name}`)" if name else ""
                    return (f"was left in {'training' if modes.get(name) else 'evaluation'} "
                            f"mode{part}")
            return None
    except Exception:  # noqa: BLE001 - something odd happened to it: call that a change
        return "was changed"
    return None


def argument_names(fn, args: tuple, kwargs: dict) -> list[str]:
    """The names the learner's function gives its arguments (``argument 1``... if unknown)."""
    import inspect
    names = [f"argument {i + 1}" for i in range(len(args))]
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for i, p in enumerate(params[:len(args)]):
            names[i] = p.name
    except (TypeError, ValueError):
        pass
    return names + list(kwargs)


def check_unchanged(fn, name: str, args: tuple, kwargs: dict, befores: list,
                    originals: tuple | None = None, allowed=()) -> None:
    """Raise :class:`Incorrect` if the call changed one of its arguments (other than those
    ``allowed``, given by name or position)."""
    values = list(args) + list(kwargs.values())
    shown_args = originals if originals is not None else args
    for i, (arg_name, before, value) in enumerate(zip(argument_names(fn, args, kwargs), befores, values)):
        if arg_name in allowed or i in allowed:
            continue
        change = what_changed(before, value)
        if change:
            raise Incorrect(f"`{format_call(name, shown_args, kwargs)}` changed its argument "
                            f"`{arg_name}`: it {change}. Leave the inputs as they are "
                            f"(work on a copy, e.g. `.clone()`).")


_CHOICE = re.compile(
    r"^\s*(?:(?:option|answer|choice)\s*)?[(\[]?\s*([a-z])\s*[)\].:]?\s*$", re.I)
_CHOICE_WITH_TEXT = re.compile(r"^\s*[(\[]?\s*([a-z])\s*[)\].:]\s+\S", re.I)


def normalise_choice(answer) -> str | None:
    """A multiple-choice answer as one lower-case letter: ``b``, ``B``, ``(b)``, ``b)``,
    ``b.``, ``[b]``, ``option b`` and ``(b) sending prompts...`` all give ``"b"``; anything
    else gives None."""
    if type(answer) is not str:
        return None
    match = _CHOICE.match(answer) or _CHOICE_WITH_TEXT.match(answer)
    return match.group(1).lower() if match else None


def assert_same_items(expected, actual, name: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Like :func:`assert_close` for a list whose order the question does not ask for: the
    same items (as a multiset), in any order, as a list or tuple."""
    if actual is ____:
        raise NotAttempted(f"`{name}` is still the blank ____.")
    if type(actual) not in (list, tuple):
        raise Incorrect(f"`{name}` should be a list, but it is {describe(actual)}.")
    if len(actual) != len(expected):
        raise Incorrect(f"`{name}` should have {len(expected)} items, but it has {len(actual)}.")
    unused = list(range(len(actual)))
    for i, e in enumerate(expected):
        for j in unused:
            try:
                assert_close(e, actual[j], f"{name}[{j}]", rtol, atol)
            except (Incorrect, NotAttempted):
                continue
            unused.remove(j)
            break
        else:
            extra = f" (look at item {unused[0]} of yours)" if unused else ""
            raise Incorrect(f"`{name}` has the right length, but not the right items{extra}.")


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


def call_learner(fn: Callable, name: str, args: tuple = (), kwargs: dict | None = None,
                 time_limit: float | None = None):
    """Call the learner's function under the check's time limit; turn its failures into
    plain-words outcomes (:class:`TimedOut` when it runs past the limit)."""
    try:
        return run_learner(fn, name, args, kwargs, time_limit)
    except TypeError as error:
        if "blank ____" in str(error):
            raise NotAttempted(f"`{name}` still uses the blank ____.")
        raise Incorrect(_learner_error(name, args, kwargs or {}, error))
    except (Exception, SystemExit) as error:  # the learner's code, not ours
        if isinstance(error, (Incorrect, NotAttempted)):  # TimedOut, NotAttempted: a verdict
            raise
        raise Incorrect(_learner_error(name, args, kwargs or {}, error))


def run_learner(fn: Callable, name: str, args: tuple = (), kwargs: dict | None = None,
                time_limit: float | None = None):
    """Call the learner's function under the check's time limit, letting its exceptions
    through (for checks about which errors reach the caller). A run past the limit raises
    :class:`TimedOut`; ``NotImplementedError`` raises :class:`NotAttempted`."""
    kwargs = kwargs or {}
    seconds = _remaining(time_limit)
    if seconds <= 0:
        raise TimedOut(f"your code used up this check's time ({TIME_LIMIT:g} s) before "
                       f"`{format_call(name, args, kwargs)}` could run: is something in it very slow?")
    try:
        return run_limited(lambda: fn(*args, **kwargs), seconds)
    except _Alarm:
        raise TimedOut(f"`{format_call(name, args, kwargs)}` did not finish within its time "
                       f"limit ({_limit_text(seconds)}): does a loop in it never end, or does it "
                       f"wait (sleep) far longer than it should?") from None
    except LearnerTimeout:  # the grader's replay of a call that did not finish in the sandbox
        raise TimedOut(f"`{format_call(name, args, kwargs)}` did not finish within its time "
                       f"limit: does a loop in it never end?") from None
    except NotImplementedError:
        raise NotAttempted(f"`{name}` still raises NotImplementedError: write its body.") from None


def guarded_call(fn: Callable, args: tuple = (), kwargs: dict | None = None,
                 time_limit: float = TIME_LIMIT, max_items: int = 10_000) -> dict:
    """One call of the learner's function with every guard, for code that runs learner
    functions away from a check (the grader's sandbox). Returns a dict:

    * ``"value"``: the result (a generator or iterator read into a list of at most
      ``max_items`` items), or absent if the call did not finish or raised;
    * ``"timed_out"``: True if it ran past ``time_limit`` seconds (calls and iteration);
    * ``"error"``: the exception it raised, if any (and it did not time out);
    * ``"changed"``: ``[(argument name, what changed), ...]`` for arguments changed in place.
    """
    kwargs = kwargs or {}
    befores = [snapshot(v) for v in list(args) + list(kwargs.values())]
    out: dict = {"timed_out": False, "changed": []}
    deadline = time.monotonic() + time_limit

    def call():
        value = fn(*args, **kwargs)
        if isinstance(value, types.GeneratorType) or (hasattr(value, "__next__") and
                                                       not isinstance(value, (str, bytes))):
            items = []
            for item in value:
                items.append(item)
                if len(items) >= max_items:
                    break
            value = items
        return value

    try:
        out["value"] = run_limited(call, max(deadline - time.monotonic(), 1e-3))
    except _Alarm:
        out["timed_out"] = True
    except LearnerTimeout:
        out["timed_out"] = True
    except BaseException as error:  # noqa: BLE001 - the learner's code
        if isinstance(error, KeyboardInterrupt):
            raise
        out["error"] = error
    names = argument_names(fn, args, kwargs)
    for arg_name, before, value in zip(names, befores, list(args) + list(kwargs.values())):
        change = what_changed(before, value)
        if change:
            out["changed"].append((arg_name, change))
    return out


def _limit_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def format_call(name: str, args: tuple, kwargs: dict) -> str:
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _short(value) -> str:
    torch = _torch()
    if type(value) is torch.Tensor:
        if value.numel() <= 6:
            shown = value.detach().cpu()
            if shown.is_floating_point():
                shown = torch.round(shown.double(), decimals=4)
            return "tensor(" + repr(shown.tolist()) + ")"
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
        outer = getattr(_budget, "deadline", None)
        if outer is None:   # the learner's code gets TIME_LIMIT seconds in all, per check
            _budget.deadline = time.monotonic() + TIME_LIMIT
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
        except TimedOut as reason:
            return Outcome(TIMED_OUT, str(reason), self.name)
        except _Alarm:
            return Outcome(TIMED_OUT, f"your code ran past its time limit ({TIME_LIMIT:g} s for "
                                      f"this check): does a loop in it never end?", self.name)
        except Incorrect as reason:
            return Outcome(INCORRECT, str(reason), self.name)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # a bug in a check must not look like the learner's
            return Outcome(CHECKER_ERROR, f"the check itself failed ({type(error).__name__}: "
                                          f"{html.escape(str(error))[:200]}). Your answer may be "
                                          f"fine; please tell your instructor.", self.name)
        finally:
            if outer is None:
                _budget.deadline = None
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
    inputs can be random but seeded). Each case calls the learner's function once, in order,
    on copies of the inputs, under the check's time limit (the grader replays these calls).
    Guards: a call that changes an argument in place is a mistake (unless its name or position
    is in ``may_change``); a result that is a generator or iterator is read up to the expected
    number of items plus one; with ``unordered=True`` a list result may come in any order.
    ``mistakes`` is a list of ``(wrong_function, message)``: when the learner's output matches
    a known wrong function on every case, the message names the mistake.
    """

    def __init__(self, var: str, reference: Callable, cases, mistakes=(), rtol=1e-4,
                 atol=1e-6, unordered: bool = False, may_change=(), **kwargs):
        super().__init__(vars=[var], **kwargs)
        self.var, self.reference, self._cases = var, reference, cases
        self.mistakes, self.rtol, self.atol = list(mistakes), rtol, atol
        self.unordered, self.may_change = unordered, tuple(may_change)

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

    def _compare(self, expected, actual, name):
        if self.unordered and type(expected) in (list, tuple):
            assert_same_items(expected, actual, name, self.rtol, self.atol)
        else:
            assert_close(expected, actual, name, self.rtol, self.atol)

    def check_values(self, **values):
        fn = values[self.var]
        if fn is ____:
            raise NotAttempted(f"`{self.var}` is still the blank ____.")
        if not callable(fn) or isinstance(fn, type):
            raise Incorrect(f"`{self.var}` should be a function, but it is {describe(fn)}.")
        cases = self.cases()
        outputs, expecteds = [], []
        for args, kwargs in cases:
            expected = self.reference(*self._copy(args), **self._copy(kwargs))
            expecteds.append(expected)
            a, k = self._copy(args), self._copy(kwargs)
            befores = [snapshot(v) for v in list(a) + list(k.values())]
            out = call_learner(fn, self.var, a, k)
            if out is None:
                try:
                    check_unchanged(fn, self.var, a, k, befores, originals=args,
                                    allowed=self.may_change)
                    also = ""
                except Incorrect:
                    also = (" (It changed its input in place instead: work on a copy and "
                            "return that.)")
                raise Incorrect(f"`{format_call(self.var, args, kwargs)}` returned None. "
                                f"Did you forget a `return` statement?{also}")
            check_unchanged(fn, self.var, a, k, befores, originals=args, allowed=self.may_change)
            if type(expected) in (list, tuple) and (isinstance(out, types.GeneratorType)
                                                     or hasattr(out, "__next__")):
                # read what it yields up to one item more than expected: an endless
                # generator gets a verdict too
                call = format_call(self.var, args, kwargs)
                out = type(expected)(take(out, len(expected) + 1, call))
                if len(out) > len(expected):
                    raise Incorrect(f"`{call}` gave more than {len(expected)} items (it should "
                                    f"give exactly {len(expected)}): does its loop stop?")
            outputs.append(out)
        for wrong, message in self.mistakes:
            if self._matches(wrong, cases, outputs):
                raise Incorrect(message)
        for (args, kwargs), out, expected in zip(cases, outputs, expecteds):
            try:
                self._compare(expected, out, "the result")
            except Incorrect as reason:
                raise Incorrect(f"for `{format_call(self.var, args, kwargs)}`, {reason}")

    def _matches(self, wrong, cases, outputs) -> bool:
        for (args, kwargs), out in zip(cases, outputs):
            try:
                self._compare(wrong(*self._copy(args), **self._copy(kwargs)), out, "x")
            except (Incorrect, NotAttempted):
                return False
            except Exception:
                return False
        return True


class ChoiceProblem(Problem):
    """A multiple-choice question: ``var`` holds one letter. ``b``, ``B``, ``(b)``, ``b)``,
    ``b.`` (and the letter followed by its option's text) all mean b. ``mistakes`` maps a
    wrong letter to what is wrong with it."""

    def __init__(self, var: str, answer: str, options: str = "abc", mistakes=None, **kwargs):
        super().__init__(vars=[var], **kwargs)
        self.var, self.answer, self.options = var, answer.lower(), options.lower()
        self.mistakes = {k.lower(): v for k, v in (mistakes or {}).items()}

    def check_values(self, **values):
        value = values[self.var]
        if value is ____:
            raise NotAttempted(f"`{self.var}` is still the blank ____.")
        letters = ", ".join(f'"{o}"' for o in self.options)
        if type(value) is not str:
            raise Incorrect(f"`{self.var}` should be one of the letters {letters} as a str, "
                            f"but it is {describe(value)}.")
        letter = normalise_choice(value)
        if letter is None or letter not in self.options:
            raise Incorrect(f"`{self.var}` should be one of the letters {letters}.")
        if letter != self.answer:
            raise Incorrect(self.mistakes.get(letter, f"`{self.var}` is not the expected answer."))


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
        status = CHECKER_ERROR if any(o.status == CHECKER_ERROR for o in outcomes) else \
            TIMED_OUT if any(o.status == TIMED_OUT for o in outcomes) else INCORRECT
        lines = [f"- part **{label}**: {o._repr_markdown_()}"
                 for label, o in zip(self.parts, outcomes)]
        return Outcome(status, "\n" + "\n".join(lines), self.name)
