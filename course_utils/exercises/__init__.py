"""Exercises: the check API (:mod:`.core`) and one module of questions per lesson.

In a lesson: ``from course_utils.exercises.lesson01 import *`` then ``q1.check()``.
"""
from .core import (TIMED_OUT, ChoiceProblem, CustomProblem, EqualityProblem, FunctionProblem,
                   Incorrect, MultipartProblem, NotAttempted, Outcome, Problem, ThoughtProblem,
                   TimedOut, ____, bind, is_blank)

__all__ = ["TIMED_OUT", "ChoiceProblem", "CustomProblem", "EqualityProblem", "FunctionProblem",
           "Incorrect", "MultipartProblem", "NotAttempted", "Outcome", "Problem", "ThoughtProblem",
           "TimedOut", "____", "bind", "is_blank"]
