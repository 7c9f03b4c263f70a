"""Lesson 04's checks accept the solution and reject the stub and realistic wrong answers."""
import torch
import torch.nn.functional as F

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson04 import q1, q2, q3, q4
from helpers import outcome, status


def _not_implemented(*args, **kwargs):
    raise NotImplementedError()


def test_q1_attention_map():
    ok = lambda f, p=2.0: F.normalize(f.abs().pow(p).mean(dim=1), dim=1)
    assert status(q1, attention_map_1d=ok) == CORRECT
    assert status(q1, attention_map_1d=lambda f, p=2.0: F.normalize(f.abs().pow(p).sum(dim=1), dim=1)) == CORRECT
    assert status(q1, attention_map_1d=_not_implemented) == NOT_ATTEMPTED
    assert status(q1, attention_map_1d=____) == NOT_ATTEMPTED
    assert "dim=1" in outcome(q1, attention_map_1d=lambda f, p=2.0: F.normalize(f.abs().pow(p).mean(dim=2), dim=1)).message
    assert "not normalised" in outcome(q1, attention_map_1d=lambda f, p=2.0: f.abs().pow(p).mean(dim=1)).message
    assert "abs()" in outcome(q1, attention_map_1d=lambda f, p=2.0: F.normalize(f.pow(p).mean(dim=1), dim=1)).message
    assert "softmax" in outcome(q1, attention_map_1d=lambda f, p=2.0: torch.softmax(f.abs().pow(p).mean(dim=1), dim=1)).message
    assert status(q1, attention_map_1d=lambda f, p=2.0: F.normalize(f.abs().mean(dim=1), dim=1)) == INCORRECT  # ignores p
    assert status(q1, attention_map_1d=lambda f: F.normalize(f.abs().pow(2).mean(dim=1), dim=1)) == INCORRECT  # no p argument


def test_q2_normalized_distances():
    def ok(e):
        d = torch.cdist(e, e)
        n = len(e)
        return d / (d.sum() / (n * (n - 1)))
    assert status(q2, normalized_distances_fn=ok) == CORRECT
    assert status(q2, normalized_distances_fn=_not_implemented) == NOT_ATTEMPTED
    assert "raw distances" in outcome(q2, normalized_distances_fn=lambda e: torch.cdist(e, e)).message
    assert "diagonal" in outcome(q2, normalized_distances_fn=lambda e: torch.cdist(e, e) / torch.cdist(e, e).mean()).message
    assert status(q2, normalized_distances_fn=lambda e: torch.cdist(e, e) / torch.cdist(e, e).max()) == INCORRECT
    assert status(q2, normalized_distances_fn=lambda e: e @ e.T) == INCORRECT


def test_q3_regressor_widths():
    assert status(q3, regressor_in=8, regressor_out=64) == CORRECT
    assert status(q3, regressor_in=____, regressor_out=____) == NOT_ATTEMPTED
    assert "other way round" in outcome(q3, regressor_in=64, regressor_out=8).message
    assert status(q3, regressor_in=8, regressor_out=8) == INCORRECT
    assert status(q3, regressor_in=8.5, regressor_out=64) == INCORRECT
    assert status(q3, regressor_in="8", regressor_out="64") == INCORRECT


def test_q4_is_a_thought_question():
    assert q4.evaluate({}).status == "info"
