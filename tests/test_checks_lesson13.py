"""Lesson 13's checks accept the solution and reject the stub and realistic wrong answers
(more wrong answers in tests/corpus/lesson13.py)."""
import pytest
import torch

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson13 import _gpt2_params, q1, q2, q3, q4
from course_utils.fast_train import run_cost, tokens_per_second
from helpers import outcome, status

from corpus.lesson13 import CORPUS, PRELUDE


# the solution's step, as the corpus writes it (tests/corpus/lesson13.py, first right answer)
_namespace: dict = {}
exec(PRELUDE + CORPUS["q1"]["right"][0], _namespace)
amp_step = _namespace["amp_step"]


def test_q1_amp_step():
    assert status(q1, amp_step=amp_step) == CORRECT
    assert status(q1, amp_step=____) == NOT_ATTEMPTED

    def no_update(model, ids, optimizer, scaler, dtype=None):
        with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
            loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        return loss.item()
    assert "scaler.update()" in outcome(q1, amp_step=no_update).message

    def raises(model, ids, optimizer, scaler, dtype=None):
        raise NotImplementedError()
    assert status(q1, amp_step=raises) == NOT_ATTEMPTED
    assert status(q1, amp_step=lambda *a: None) == INCORRECT


def test_q2_q3_from_the_log():
    assert status(q2, throughput=tokens_per_second) == CORRECT
    assert status(q2, throughput=____) == NOT_ATTEMPTED
    assert "warm-up" in outcome(q2, throughput=lambda log, skip=1: tokens_per_second(log, 0)).message
    assert status(q3, cost=run_cost) == CORRECT
    assert "3600" in outcome(q3, cost=lambda log, p, gpus=1: run_cost(log, p, gpus) * 60).message
    assert "gpus" in outcome(q3, cost=lambda log, p, gpus=1: run_cost(log, p)).message


@pytest.mark.parametrize("shape", [(512, 1, 16, 64), (1024, 2, 32, 128), (300, 3, 48, 32)])
def test_the_reference_count_is_gpt2s(shape):
    from transformers import GPT2Config, GPT2LMHeadModel
    vocab, n_layer, n_embd, block = shape
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_layer=n_layer, n_embd=n_embd, n_head=1,
                                       n_positions=block))
    assert _gpt2_params(*shape) == sum(p.numel() for p in model.parameters())


def test_q4_gpt2_params():
    assert status(q4, gpt2_params=_gpt2_params) == CORRECT
    assert status(q4, gpt2_params=____) == NOT_ATTEMPTED
    untied = lambda V, L, d, B: _gpt2_params(V, L, d, B) + V * d   # noqa: E731
    assert "tied" in outcome(q4, gpt2_params=untied).message
