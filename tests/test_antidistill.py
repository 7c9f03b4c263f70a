"""Antidistillation sampling (lesson 11): the finite difference against a brute-force autograd
computation of the same inner products, the cached sampler against a full recompute, and
lambda = 0 against plain temperature sampling, bit for bit."""
import pytest
import torch

from course_utils.antidistill import (ProxyPair, antidistill_generate, perturbed_proxies,
                                      proxy_loss, token_deltas)
from course_utils.watermark import watermarked_generate
from tiny_lm import one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)
VOCAB = 40


def toy_lm(seed: int, dtype=torch.float32):
    """A 2-layer GPT-2 over a 40-token vocabulary (token 0 is EOS)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=48, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config).to(dtype).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(4)
    return model


def _ids(rows, length, seed):
    return torch.randint(1, VOCAB, (rows, length), generator=torch.Generator().manual_seed(seed))


def exact_deltas(proxy, held_out, context):
    """Brute force: <grad L_proxy, grad log p_proxy(v | context)> by autograd, one backward
    pass per token v of the vocabulary."""
    params = [p for p in proxy.parameters()]
    g = torch.autograd.grad(proxy_loss(proxy, held_out), params)
    out = torch.zeros(context.shape[0], VOCAB, dtype=torch.float64)
    for r in range(context.shape[0]):
        row = context[r:r + 1]
        log_p = torch.log_softmax(proxy(input_ids=row, attention_mask=torch.ones_like(row))
                                  .logits[0, -1], dim=-1)
        for v in range(VOCAB):
            grads = torch.autograd.grad(log_p[v], params, retain_graph=True, allow_unused=True)
            out[r, v] = sum((a * b).sum() for a, b in zip(g, grads) if b is not None)
    return out


def test_finite_difference_matches_autograd_for_every_token():
    proxy = toy_lm(1, torch.float64)
    held_out, context = _ids(3, 10, 0), _ids(2, 6, 1)
    exact = exact_deltas(proxy, held_out, context)
    estimate = token_deltas(perturbed_proxies(proxy, held_out, epsilon=1e-5), context)
    assert estimate.dtype == torch.float64 and estimate.shape == (2, VOCAB)
    assert exact.abs().max() > 1e-3 and exact.std() > 1e-4    # not a trivial target
    relative = (estimate - exact).norm() / exact.norm()
    assert relative < 1e-2, float(relative)
    # a wrong sign or a one-sided difference would be far off
    assert (-estimate - exact).norm() / exact.norm() > 1
    # and the float32 default step still gets the ranking of the tokens nearly right
    rough = token_deltas(perturbed_proxies(proxy.float(), held_out.clone()), context)
    corr = torch.corrcoef(torch.stack([rough.double().flatten(), exact.flatten()]))[0, 1]
    assert corr > 0.99, float(corr)


def test_the_proxy_is_left_as_it_was():
    proxy = toy_lm(2)
    before = {k: v.clone() for k, v in proxy.state_dict().items()}
    pair = perturbed_proxies(proxy, _ids(2, 8, 0), epsilon=1e-2)
    assert all(torch.equal(before[k], v) for k, v in proxy.state_dict().items())
    assert all(p.grad is None for p in proxy.parameters())
    assert isinstance(pair, ProxyPair) and pair.vocab_size == VOCAB
    moved = [not torch.equal(a, b) for a, b in zip(pair.plus.parameters(), proxy.parameters())]
    assert any(moved)


def test_the_cached_sampler_step_is_the_full_recompute():
    pair = perturbed_proxies(toy_lm(3, torch.float64), _ids(3, 10, 0), epsilon=1e-4)
    seq = _ids(2, 9, 4)
    nudge = pair.nudge(2.5)
    prompt = 5
    for step in range(prompt, seq.shape[1] + 1):
        step_ids = seq[:, :step] if step == prompt else seq[:, step - 1:step]
        got = nudge(step_ids, torch.ones(2, step, dtype=torch.long))
        want = 2.5 * token_deltas(pair, seq[:, :step])
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


def test_weight_zero_is_plain_temperature_sampling_bit_for_bit():
    teacher = toy_lm(0)
    pair = perturbed_proxies(toy_lm(5), _ids(3, 10, 0), epsilon=1e-2)
    prompts = _ids(4, 5, 6)
    mask = torch.ones_like(prompts)
    mask[1, :2] = 0                                        # one left-padded row
    for temperature in (1.0, 0.7):
        kw = dict(max_new_tokens=20, seed=3, temperature=temperature, attention_mask=mask)
        plain = watermarked_generate(teacher, prompts, None, **kw)
        assert antidistill_generate(teacher, prompts, pair, 0.0, **kw) == plain
        assert antidistill_generate(teacher, prompts, pair, 0, **kw) == plain
        assert antidistill_generate(teacher, prompts, pair, 20.0, **kw) != plain


def test_samples_follow_the_tilted_distribution():
    """One step from one context, many rows: the mean Delta of the sampled tokens is the mean
    under softmax(logits / T + lam * Delta), and rises with lam."""
    teacher = toy_lm(0)
    held_out = _ids(3, 10, 0)
    pair = perturbed_proxies(toy_lm(5), held_out, epsilon=1e-2)
    context = _ids(1, 6, 7).repeat(3000, 1)
    with torch.no_grad():
        logits = teacher(input_ids=context[:1]).logits[0, -1].float()
    delta = token_deltas(pair, context[:1])[0].float()
    means = {}
    for lam in (-2.0, 0.0, 2.0):
        tokens = antidistill_generate(teacher, context, pair, lam, max_new_tokens=1, seed=1,
                                      temperature=0.8)
        sampled = delta[torch.tensor([t[0] if t else 0 for t in tokens])]
        p = torch.softmax(logits / 0.8 + lam * delta, dim=-1)
        expected = float((p * delta).sum())
        spread = float(((p * (delta - expected) ** 2).sum()).sqrt()) / len(tokens) ** 0.5
        assert abs(float(sampled.mean()) - expected) < 5 * spread + 1e-6, (lam, expected)
        means[lam] = float(sampled.mean())
    assert means[-2.0] < means[0.0] < means[2.0]


def test_bad_inputs_get_clear_messages():
    teacher, proxy = toy_lm(0), toy_lm(1)
    held_out = _ids(2, 8, 0)
    with pytest.raises(ValueError, match="epsilon"):
        perturbed_proxies(proxy, held_out, epsilon=0)
    with pytest.raises(ValueError, match="epsilon"):
        perturbed_proxies(proxy, held_out, epsilon="small")
    pair = perturbed_proxies(proxy, held_out)
    for weight in ("strong", None, float("inf"), True):
        with pytest.raises(ValueError, match="lambda"):
            antidistill_generate(teacher, held_out, pair, weight, max_new_tokens=2)
    with pytest.raises(ValueError, match="temperature"):
        antidistill_generate(teacher, held_out, pair, 1.0, max_new_tokens=2, temperature=0)
    from transformers import GPT2Config, GPT2LMHeadModel
    other = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB + 3, n_positions=16, n_embd=8,
                                       n_layer=1, n_head=2))
    with pytest.raises(ValueError, match="vocabulary"):
        antidistill_generate(other, held_out, pair, 1.0, max_new_tokens=2)
