"""Questions of lesson 13 (the capstone): a mixed-precision step, throughput and cost from a
run's log, and the parameters of a student's shape."""
from __future__ import annotations

import copy

import torch

from ..fast_train import mixed_precision_step as _amp_step
from ..fast_train import run_cost as _run_cost
from ..fast_train import tokens_per_second as _tokens_per_second
from ..teachers import gpt2_params as _gpt2_params
from .core import CustomProblem, FunctionProblem, Incorrect, ____, call_learner, describe

__all__ = ["q1", "q2", "q3", "q4", "____"]


# --------------------------------------------------------------------------------------
# q1: the mixed-precision step with a GradScaler
# --------------------------------------------------------------------------------------
class _TinyLM(torch.nn.Module):
    """A causal LM with the transformers interface (``model(input_ids=..., labels=...)`` has
    ``.logits`` and ``.loss``), small enough that a check runs in milliseconds."""

    def __init__(self, vocab: int = 24, width: int = 16):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.mix = torch.nn.Linear(width, width)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, input_ids, labels=None, attention_mask=None):
        # attention_mask accepted as transformers models do; there is no padding to mask here
        from types import SimpleNamespace
        logits = self.head(torch.tanh(self.mix(self.embed(input_ids))))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                     labels[:, 1:].reshape(-1))
        return SimpleNamespace(logits=logits, loss=loss)


def _tiny_model(seed: int):
    torch.manual_seed(seed)
    return _TinyLM()


def _scenarios():
    """(what, scale, stale gradients?, dtype): a plain step, one whose scaled gradients
    overflow (the step must be skipped and the scale lowered), one with stale gradients left
    in the model, one under bf16 autocast."""
    return [("a step with the scale 1024", 1024.0, False, None),
            ("a step whose scaled loss overflows (scale 3e38)", 3e38, False, None),
            ("a step on a model holding stale gradients", 256.0, True, None),
            ("a step under bf16 autocast", 512.0, False, torch.bfloat16)]


def _setup(seed, scale, stale):
    model = _tiny_model(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale, growth_interval=1)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 24, (3, 8), generator=g)
    if stale:
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.3)
    if scale > 1e30:   # large weights make gradients above 1, which the scale pushes past fp32's range
        with torch.no_grad():
            model.head.weight.mul_(50.0)
    return model, optimizer, scaler, ids


def _check_q1(amp_step):
    if not callable(amp_step):
        raise Incorrect(f"`amp_step` should be a function, but it is {describe(amp_step)}.")
    for i, (what, scale, stale, dtype) in enumerate(_scenarios()):
        ref_model, ref_opt, ref_scaler, ids = _setup(i, scale, stale)
        model, opt, scaler, _ = _setup(i, scale, stale)
        expected = _amp_step(ref_model, ids, ref_opt, ref_scaler, dtype)
        loss = call_learner(amp_step, "amp_step", (model, ids.clone(), opt, scaler, dtype))
        if loss is None:
            raise Incorrect("`amp_step` returned None: return the loss (a number, e.g. `loss.item()`).")
        try:
            value = float(loss)
        except (TypeError, ValueError, RuntimeError):
            raise Incorrect(f"`amp_step` should return the loss as a number, but returned {describe(loss)}.")
        if abs(value - expected) > 1e-4 * max(1.0, abs(expected)):
            if abs(value - expected * scaler.get_scale()) < 1e-3 * abs(expected * scale) or \
                    abs(value - expected * scale) < 1e-3 * abs(expected * scale):
                raise Incorrect(f"in {what}, `amp_step` returned the *scaled* loss: return the loss "
                                "itself; the scale is only for the backward pass.")
            raise Incorrect(f"in {what}, `amp_step` returned the loss {value:.5g}, which is not the "
                            "loss of this batch (did you compute it under autocast with `dtype`?).")
        if scaler.get_scale() != ref_scaler.get_scale():
            raise Incorrect(f"in {what}, the scaler's scale is {scaler.get_scale():g} afterwards, "
                            f"not what it should be: call `scaler.update()` after `scaler.step(...)` "
                            "(it lowers the scale after an overflow and raises it after good steps).")
        for (name, p), q in zip(model.named_parameters(), ref_model.parameters()):
            if not torch.isfinite(p).all():
                raise Incorrect(f"in {what}, the weights became inf/NaN: an overflowing step must be "
                                "skipped. Step through the scaler, `scaler.step(optimizer)`, never "
                                "`optimizer.step()` directly.")
            if not torch.allclose(p, q, rtol=1e-4, atol=1e-5):
                hint = ""
                if stale:
                    hint = (" The model held gradients from an earlier step: clear them first "
                            "(`optimizer.zero_grad()`).")
                elif scale > 1e30:
                    hint = " After an overflow the weights must stay exactly as they were."
                else:
                    hint = (" Scale the loss before backward (`scaler.scale(loss).backward()`), "
                            "unscale before clipping (`scaler.unscale_(optimizer)`), clip the "
                            "gradient norm to 1.0, then `scaler.step(optimizer)`.")
                raise Incorrect(f"in {what}, the weights after your step differ from the right "
                                f"step's (first: `{name}`).{hint}")


q1 = CustomProblem(
    name="q1", vars=["amp_step"], checker=_check_q1,
    hints=["Four calls on the scaler, in this order: `scaler.scale(loss).backward()`, "
           "`scaler.unscale_(optimizer)` (then clip), `scaler.step(optimizer)`, `scaler.update()`.",
           "The forward pass runs under `torch.autocast(device_type=ids.device.type, dtype=dtype)` "
           "when `dtype` is given; clear old gradients before backward; return `loss.item()`."],
    solution="```python\ndef amp_step(model, ids, optimizer, scaler, dtype=None):\n"
             "    with torch.autocast(device_type=ids.device.type, dtype=dtype, enabled=dtype is not None):\n"
             "        loss = model(input_ids=ids, labels=ids).loss\n"
             "    optimizer.zero_grad(set_to_none=True)\n"
             "    scaler.scale(loss).backward()\n"
             "    scaler.unscale_(optimizer)\n"
             "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
             "    scaler.step(optimizer)\n"
             "    scaler.update()\n"
             "    return loss.item()\n```",
    correct_message="that is the step the course's loop takes on a T4 (fp16); on bf16 hardware the "
                    "scaler is not needed, since bf16 has fp32's range.",
)


# --------------------------------------------------------------------------------------
# q2, q3: throughput and cost from a run's log
# --------------------------------------------------------------------------------------
def _logs():
    """Step records as the loop writes them; the first step is slow (warm-up), the steps carry
    different token counts (a last, smaller batch), and evaluation records carry no tokens."""
    a = [{"step": 1, "tokens": 2048, "seconds": 9.5, "loss": 6.1},
         {"step": 2, "tokens": 2048, "seconds": 0.5, "loss": 5.9},
         {"step": 3, "tokens": 2048, "seconds": 0.25, "loss": 5.6},
         {"step": 4, "tokens": 1024, "seconds": 0.5, "loss": 5.5}]
    b = [{"step": 1, "tokens": 512, "seconds": 3.0, "loss": 4.0},
         {"step": 2, "tokens": 512, "seconds": 0.125, "loss": 3.9},
         {"step": 2, "loss": 3.8, "valid": True, "seconds": 4.0},
         {"step": 3, "tokens": 256, "seconds": 0.375, "loss": 3.7}]
    c = [{"step": s, "tokens": 4096, "seconds": 0.1 * s, "loss": 2.0} for s in range(1, 6)]
    return [a, b, c]


def _tps_cases():
    logs = _logs()
    return [((logs[0],), {}), ((logs[1],), {}), ((logs[2], 2), {}), ((logs[0], 0), {})]


def _tps_with_warmup(log, skip=1):
    return _tokens_per_second(log, skip=0)


def _tps_mean_of_rates(log, skip=1):
    kept = [r for r in log if "tokens" in r][skip:]
    return sum(r["tokens"] / r["seconds"] for r in kept) / len(kept)


def _tps_last_step(log, skip=1):
    r = [r for r in log if "tokens" in r][-1]
    return r["tokens"] / r["seconds"]


def _tps_skip_tokens_only(log, skip=1):
    kept = [r for r in log if "tokens" in r]
    return sum(r["tokens"] for r in kept[skip:]) / sum(r["seconds"] for r in kept)


def _tps_steps_times_batch(log, skip=1):
    kept = [r for r in log if "tokens" in r]
    return len(kept[skip:]) * kept[0]["tokens"] / sum(r["seconds"] for r in kept[skip:])


q2 = FunctionProblem(
    name="q2", var="throughput", reference=_tokens_per_second, cases=_tps_cases, rtol=1e-6, atol=1e-9,
    mistakes=[
        (_tps_with_warmup, "you counted the warm-up steps: leave out the first `skip` training steps "
                           "(allocation, autotuning and compilation make them slow, and they do not "
                           "say how fast the loop runs)."),
        (_tps_mean_of_rates, "you averaged the per-step rates; throughput is *all* the tokens divided "
                             "by *all* the seconds (a short fast step would otherwise weigh as much as "
                             "a long one)."),
        (_tps_skip_tokens_only, "you left out the warm-up's tokens but kept its seconds: leave out both."),
        (_tps_last_step, "that is the last step's rate only; sum the tokens and the seconds of every "
                         "step after the warm-up."),
        (_tps_steps_times_batch, "steps do not all carry the same number of tokens (the last batch is "
                                 "smaller): add up each step's `tokens`."),
    ],
    hints=["Keep the records that have `\"tokens\"` (evaluations have none), then drop the first `skip`.",
           "`sum(r['tokens'] for r in kept) / sum(r['seconds'] for r in kept)`"],
    solution="```python\ndef throughput(log, skip=1):\n"
             "    kept = [r for r in log if 'tokens' in r][skip:]\n"
             "    return sum(r['tokens'] for r in kept) / sum(r['seconds'] for r in kept)\n```",
)


def _cost_cases():
    logs = _logs()
    return [((logs[0], 0.35), {}), ((logs[1], 2.5, 8), {}), ((logs[2], 0.35, 2), {}), ((logs[2], 3.0), {})]


def _cost_skips_warmup(log, price, gpus=1):
    kept = [r for r in log if "tokens" in r][1:]
    return sum(r["seconds"] for r in kept) / 3600 * price * gpus


def _cost_minutes(log, price, gpus=1):
    return _run_cost(log, price, gpus) * 60


def _cost_one_gpu(log, price, gpus=1):
    return _run_cost(log, price, 1)


def _cost_counts_evals(log, price, gpus=1):
    return sum(r["seconds"] for r in log) / 3600 * price * gpus


def _cost_per_second_price(log, price, gpus=1):
    return sum(r["seconds"] for r in log if "tokens" in r) * price * gpus


q3 = FunctionProblem(
    name="q3", var="cost", reference=_run_cost, cases=_cost_cases, rtol=1e-6, atol=1e-12,
    mistakes=[
        (_cost_skips_warmup, "the warm-up steps are paid for too: a cost counts every training "
                             "second (leave none out)."),
        (_cost_minutes, "the price is per GPU-*hour*: divide the seconds by 3600, not 60."),
        (_cost_per_second_price, "the price is per GPU-*hour*: convert the seconds to hours first."),
        (_cost_one_gpu, "every GPU of the run is billed: multiply by `gpus`."),
        (_cost_counts_evals, "count the training steps only (the records with `tokens`): the "
                             "evaluation here is a separate cost."),
    ],
    hints=["Seconds of the training records (those with `\"tokens\"`), all of them.",
           "`seconds / 3600 * price_per_gpu_hour * gpus`"],
    solution="```python\ndef cost(log, price_per_gpu_hour, gpus=1):\n"
             "    seconds = sum(r['seconds'] for r in log if 'tokens' in r)\n"
             "    return seconds / 3600 * price_per_gpu_hour * gpus\n```",
)


# --------------------------------------------------------------------------------------
# q4: the parameters of a GPT-2 shape (to choose a student under a budget)
# --------------------------------------------------------------------------------------
def _params_cases():
    return [((512, 1, 16, 64), {}), ((1024, 2, 32, 128), {}), ((8192, 4, 128, 256), {}),
            ((300, 3, 48, 32), {}), ((50257, 12, 768, 1024), {})]


def _no_positions(V, L, d, B):
    return _gpt2_params(V, L, d, B) - B * d


def _untied(V, L, d, B):
    return _gpt2_params(V, L, d, B) + V * d


def _no_biases(V, L, d, B):
    return V * d + B * d + L * (12 * d * d + 4 * d) + 2 * d


def _no_norms(V, L, d, B):
    return V * d + B * d + L * (12 * d * d + 9 * d)


def _mlp_3x(V, L, d, B):
    return V * d + B * d + L * (10 * d * d + 11 * d) + 2 * d


def _layers_only(V, L, d, B):
    return L * (12 * d * d + 13 * d)


q4 = FunctionProblem(
    name="q4", var="gpt2_params", reference=_gpt2_params, cases=_params_cases, rtol=0, atol=0.5,
    mistakes=[
        (_no_positions, "you left out the position embeddings (`block_size x n_embd`)."),
        (_untied, "GPT-2's output layer shares its weights with the token embedding (tied): count "
                  "`vocab_size x n_embd` once."),
        (_no_biases, "every Linear layer of GPT-2 has a bias: 3d + d in attention, 4d + d in the MLP."),
        (_no_norms, "count the layer norms: two per layer and one at the end, each 2 x n_embd "
                    "(a scale and a shift)."),
        (_mlp_3x, "GPT-2's MLP is 4 x n_embd wide (n_embd -> 4 n_embd -> n_embd)."),
        (_layers_only, "the embeddings count too: at small widths they are most of the model."),
    ],
    hints=["Embeddings: `vocab_size*d + block_size*d`. Per layer: attention `d*3d + 3d` (query, key, "
           "value) and `d*d + d` (output); MLP `d*4d + 4d` and `4d*d + d`; two layer norms `2*2d`.",
           "Per layer that is `12*d*d + 13*d`; add the final layer norm `2*d`; the output layer is tied."],
    solution="```python\ndef gpt2_params(vocab_size, n_layer, n_embd, block_size):\n"
             "    d = n_embd\n"
             "    return vocab_size * d + block_size * d + n_layer * (12 * d * d + 13 * d) + 2 * d\n```",
    correct_message="with it you can choose a student's shape under a parameter budget without "
                    "building a single model.",
)
