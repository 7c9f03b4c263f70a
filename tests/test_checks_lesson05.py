"""Lesson 05's checks accept the solution and reject the stub and realistic wrong answers."""
import math

import torch

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson05 import q1, q2, q3
from helpers import outcome, status


def perplexity_from_losses(token_losses):
    return math.exp(token_losses.mean().item())


def test_q1_perplexity():
    assert status(q1, perplexity_from_losses=perplexity_from_losses) == CORRECT
    assert status(q1, perplexity_from_losses=lambda l: torch.exp(l.mean())) == CORRECT  # a 0-d tensor is fine
    assert status(q1) == NOT_ATTEMPTED and status(q1, perplexity_from_losses=____) == NOT_ATTEMPTED

    def stub(token_losses):
        raise NotImplementedError()
    assert status(q1, perplexity_from_losses=stub) == NOT_ATTEMPTED
    assert "exponential" in outcome(q1, perplexity_from_losses=lambda l: l.mean().item()).message
    assert "Average the losses first" in outcome(q1, perplexity_from_losses=lambda l: l.exp().mean().item()).message
    assert "nats" in outcome(q1, perplexity_from_losses=lambda l: 2 ** l.mean().item()).message
    assert "*sum*" in outcome(q1, perplexity_from_losses=lambda l: math.exp(l.sum().item())).message
    assert status(q1, perplexity_from_losses=lambda l: math.exp(l.median().item())) == INCORRECT

    def no_return(token_losses):
        math.exp(token_losses.mean().item())
    assert "return" in outcome(q1, perplexity_from_losses=no_return).message
    assert status(q1, perplexity_from_losses=3.0) == INCORRECT


def _solution(logits, temperature, top_p):
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    keep = torch.zeros_like(sorted_probs, dtype=torch.bool).scatter(-1, order, before < top_p)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)


def test_q2_sampling_distribution():
    assert status(q2, sampling_distribution=_solution) == CORRECT
    assert status(q2, sampling_distribution=____) == NOT_ATTEMPTED

    def no_renorm(logits, temperature, top_p):
        out = _solution(logits, temperature, top_p)
        return torch.softmax(logits / temperature, -1) * (out > 0)
    assert "renormalised" in outcome(q2, sampling_distribution=no_renorm).message
    assert "divide the logits" in outcome(q2, sampling_distribution=lambda l, t, p: _solution(l * t, 1.0, p)).message

    def strict(logits, temperature, top_p):
        probs = torch.softmax(logits / temperature, -1)
        s, order = probs.sort(descending=True)
        keep_s = s.cumsum(-1) <= top_p
        keep_s[0] = True
        keep = torch.zeros_like(keep_s).scatter(-1, order, keep_s)
        return probs * keep / (probs * keep).sum()
    assert "crosses the threshold" in outcome(q2, sampling_distribution=strict).message

    def top_p_first(logits, temperature, top_p):
        keep = _solution(logits, 1.0, top_p) > 0
        probs = torch.softmax(logits / temperature, -1) * keep
        return probs / probs.sum()
    assert "temperature first" in outcome(q2, sampling_distribution=top_p_first).message
    # plain softmax with temperature (no nucleus at all) is wrong too
    assert status(q2, sampling_distribution=lambda l, t, p: torch.softmax(l / t, -1)) == INCORRECT
    # a list instead of a tensor
    assert status(q2, sampling_distribution=lambda l, t, p: _solution(l, t, p).tolist()) == INCORRECT


def test_q3_is_a_thought_question():
    assert q3.evaluate({}).status == "info"
