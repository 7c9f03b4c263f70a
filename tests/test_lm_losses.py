"""Token-level distillation losses against brute-force computations (loops over positions)."""
import math

import pytest
import torch

from course_utils.lm_losses import (forward_kl, generalized_jsd, lm_kd_loss, masked_mean, next_token_ce,
                                    reverse_kl, shift_for_lm, topk_kl, topk_teacher)


def _probs(logits_row, T=1.0):
    z = [x / T for x in logits_row]
    m = max(z)
    e = [math.exp(x - m) for x in z]
    s = sum(e)
    return [x / s for x in e]


def _kl(p, q):
    return sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q) if pi > 0)


def _brute(student, teacher, mask, per_position):
    """Mean of per_position(student_row, teacher_row) over the positions where mask is 1."""
    total, count = 0.0, 0
    B, L, _ = student.shape
    for b in range(B):
        for t in range(L):
            if mask is None or mask[b, t]:
                total += per_position(student[b, t].tolist(), teacher[b, t].tolist())
                count += 1
    return total / max(count, 1)


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 5, 7, generator=g, dtype=torch.float64) * 2
    t = torch.randn(2, 5, 7, generator=g, dtype=torch.float64) * 2
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], dtype=torch.bool)
    return s, t, mask


@pytest.mark.parametrize("T", [1.0, 2.5])
def test_forward_and_reverse_kl_match_brute_force(logits, T):
    s, t, mask = logits
    fwd = _brute(s, t, mask, lambda a, b: _kl(_probs(b, T), _probs(a, T))) * T * T
    rev = _brute(s, t, mask, lambda a, b: _kl(_probs(a, T), _probs(b, T))) * T * T
    assert forward_kl(s, t, mask, T).item() == pytest.approx(fwd, rel=1e-5)
    assert reverse_kl(s, t, mask, T).item() == pytest.approx(rev, rel=1e-5)
    assert abs(fwd - rev) > 1e-3  # the two directions really differ here


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_generalized_jsd_matches_brute_force(logits, beta):
    s, t, mask = logits

    def jsd(a, b):
        p_s, p_t = _probs(a, 2.0), _probs(b, 2.0)
        m = [beta * pt + (1 - beta) * ps for ps, pt in zip(p_s, p_t)]
        return beta * _kl(p_t, m) + (1 - beta) * _kl(p_s, m)
    expected = _brute(s, t, mask, jsd) * 4.0
    assert generalized_jsd(s, t, beta, mask, T=2.0).item() == pytest.approx(expected, rel=1e-5)


def test_jsd_is_symmetric_at_half_and_bounded(logits):
    s, t, _ = logits
    assert generalized_jsd(s, t, 0.5).item() == pytest.approx(generalized_jsd(t, s, 0.5).item(), rel=1e-6)
    assert generalized_jsd(s, t, 0.5).item() <= math.log(2) + 1e-9
    with pytest.raises(ValueError, match="strictly between"):
        generalized_jsd(s, t, 0.0)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_topk_kl_matches_brute_force(logits, k):
    s, t, mask = logits

    def topk(a, b):
        order = sorted(range(len(b)), key=lambda i: -b[i])[:k]
        z = sum(math.exp(b[i]) for i in order)
        p = {i: math.exp(b[i]) / z for i in order}
        q = _probs(a)
        return sum(p[i] * (math.log(p[i]) - math.log(q[i])) for i in order)
    expected = _brute(s, t, mask, topk)
    assert topk_kl(s, t, k, mask).item() == pytest.approx(expected, rel=1e-5)


def test_topk_with_full_vocabulary_is_forward_kl_and_k1_is_ce_on_teacher_argmax(logits):
    s, t, mask = logits
    assert topk_kl(s, t, 7, mask).item() == pytest.approx(forward_kl(s, t, mask).item(), rel=1e-6)
    ce = next_token_ce(s, t.argmax(-1), mask)
    assert topk_kl(s, t, 1, mask).item() == pytest.approx(ce.item(), rel=1e-6)


def test_topk_from_cached_indices_and_values(logits):
    s, t, mask = logits
    values, indices = t.topk(5, dim=-1)
    assert topk_kl(s, (indices, values), 5, mask).item() == pytest.approx(topk_kl(s, t, 5, mask).item())
    assert topk_kl(s, (indices, values), 3, mask).item() == pytest.approx(topk_kl(s, t, 3, mask).item())
    idx, probs = topk_teacher(t, 4)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 5, dtype=probs.dtype))


@pytest.mark.parametrize("loss", [forward_kl, reverse_kl, lambda s, t, m: generalized_jsd(s, t, 0.3, m),
                                  lambda s, t, m: topk_kl(s, t, 3, m)])
def test_masked_positions_are_really_ignored(logits, loss):
    s, t, mask = logits
    before = loss(s, t, mask).item()
    s2, t2 = s.clone(), t.clone()
    s2[~mask] = torch.randn_like(s2[~mask]) * 50   # garbage where the mask is 0
    t2[~mask] = torch.randn_like(t2[~mask]) * 50
    assert loss(s2, t2, mask).item() == pytest.approx(before, rel=1e-9)
    # and no gradient flows into masked positions
    s3 = s.clone().requires_grad_(True)
    loss(s3, t, mask).backward()
    assert s3.grad[~mask].abs().max().item() == 0.0
    assert s3.grad[mask].abs().max().item() > 0.0


def test_zero_when_student_equals_teacher(logits):
    s, _, mask = logits
    for value in (forward_kl(s, s, mask), reverse_kl(s, s, mask), generalized_jsd(s, s, 0.5, mask)):
        assert abs(value.item()) < 1e-10


def test_lm_kd_loss_uses_label_mask_and_mixes_ce(logits):
    s, t, mask = logits
    labels = t.argmax(-1).masked_fill(~mask, -100)
    assert lm_kd_loss(s, t, labels, kind="forward").item() == pytest.approx(forward_kl(s, t, mask).item())
    mixed = lm_kd_loss(s, t, labels, kind="reverse", alpha=0.3).item()
    expected = 0.3 * reverse_kl(s, t, mask).item() + 0.7 * next_token_ce(s, labels).item()
    assert mixed == pytest.approx(expected)
    with pytest.raises(ValueError, match="kind"):
        lm_kd_loss(s, t, labels, kind="backward")
    with pytest.raises(ValueError, match="needs k"):
        lm_kd_loss(s, t, labels, kind="topk")


def test_next_token_ce_matches_cross_entropy_and_shift():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 11, generator=g)
    ids = torch.randint(0, 11, (2, 6), generator=g)
    s, y = shift_for_lm(logits, ids)
    assert s.shape == (2, 5, 11) and torch.equal(y, ids[:, 1:])
    ref = torch.nn.functional.cross_entropy(s.reshape(-1, 11), y.reshape(-1))
    assert next_token_ce(s, y).item() == pytest.approx(ref.item(), rel=1e-6)


def test_bad_inputs_give_clear_errors(logits):
    s, t, mask = logits
    with pytest.raises(ValueError, match="same shape"):
        forward_kl(s[..., :5], t)
    with pytest.raises(ValueError, match="temperature"):
        forward_kl(s, t, T=0)
    with pytest.raises(ValueError, match="k must be"):
        topk_kl(s, t, 0)
    with pytest.raises(ValueError, match="mask"):
        masked_mean(torch.ones(2, 5), torch.ones(3, 5))
    assert masked_mean(torch.ones(2, 5), torch.zeros(2, 5)).item() == 0.0
