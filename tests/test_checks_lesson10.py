"""Lesson 10's checks accept the solution and reject the stub and realistic wrong answers."""
import math

import pytest

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson10 import q1, q2, q3
from helpers import assert_named_mistakes, assert_solution_and_stubs, outcome, status


def green_step(scores, input_ids, green, delta):
    return scores + delta * green[input_ids[:, -1]].to(scores.dtype)


def text_z(ids, green, gamma):
    pairs = list(zip(ids[:-1], ids[1:]))
    g = sum(bool(green[p, t]) for p, t in pairs)
    n = len(pairs)
    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))


def dedup_z(samples, prompts, green, gamma):
    banned = {(a, b) for p in prompts for a, b in zip(p[:-1], p[1:])}
    pairs = set()
    for p, s in zip(prompts, samples):
        ids = p[-1:] + list(s)
        pairs |= set(zip(ids[:-1], ids[1:]))
    pairs -= banned
    g = sum(bool(green[a, b]) for a, b in pairs)
    n = len(pairs)
    return (g - gamma * n) / math.sqrt(n * gamma * (1 - gamma))


@pytest.mark.parametrize("q, name, right", [(q1, "green_step", green_step), (q2, "text_z", text_z),
                                            (q3, "dedup_z", dedup_z)])
def test_accepts_the_solution_and_rejects_the_stub(q, name, right):
    assert_solution_and_stubs(q, name, right)


@pytest.mark.parametrize("q", [q1, q2, q3])
def test_every_named_mistake_differs_from_the_reference(q):
    assert_named_mistakes(q)


def test_in_place_green_step_is_named():
    def in_place(scores, input_ids, green, delta):
        scores += delta * green[input_ids[:, -1]].float()
        return scores
    assert "changed its argument" in outcome(q1, green_step=in_place).message
