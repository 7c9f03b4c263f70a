"""Lesson 00's checks accept the solution and reject the stub and realistic wrong answers."""
import torch

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson00 import q1, q2, q3
from helpers import outcome, status

LOGITS = torch.tensor([3.0, 1.0, 0.2])


def test_q1_softmax():
    assert status(q1, probs=torch.softmax(LOGITS, dim=0)) == CORRECT
    assert status(q1) == NOT_ATTEMPTED and status(q1, probs=____) == NOT_ATTEMPTED
    assert "exp" in outcome(q1, probs=LOGITS.exp()).message
    assert "one-hot" in outcome(q1, probs=torch.tensor([1.0, 0.0, 0.0])).message
    assert "divides the logits" in outcome(q1, probs=LOGITS / LOGITS.sum()).message
    assert status(q1, probs=torch.softmax(LOGITS, dim=0).tolist()) == INCORRECT
    assert status(q1, probs=torch.softmax(LOGITS / 2, dim=0)) == INCORRECT


def test_q2_choice():
    assert status(q2, answer="b") == CORRECT and status(q2, answer=" B ") == CORRECT
    assert status(q2, answer=____) == NOT_ATTEMPTED
    for wrong in ("a", "c", 2, None):
        assert status(q2, answer=wrong) == INCORRECT


def test_q3_is_a_thought_question():
    assert q3.evaluate({}).status == "info"
