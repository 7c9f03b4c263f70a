"""Questions of lesson 05 (a tiny teacher language model)."""
import math

import torch

from ..lm import nucleus_probs
from .core import FunctionProblem, ThoughtProblem, ____

__all__ = ["q1", "q2", "q3", "____"]


# -- q1: perplexity from the per-token losses ------------------------------------------------
def _perplexity_reference(token_losses):
    return math.exp(token_losses.double().mean().item())


def _ppl_cases():
    g = torch.Generator().manual_seed(5)
    return [((torch.rand(12, generator=g) * 6,), {}),
            ((torch.rand(40, generator=g) * 3 + 1,), {}),
            ((torch.tensor([2.0, 2.0, 2.0]),), {}),
            ((torch.tensor([0.0]),), {})]


q1 = FunctionProblem(
    name="q1",
    var="perplexity_from_losses",
    reference=_perplexity_reference,
    cases=_ppl_cases,
    rtol=1e-4,
    mistakes=[
        (lambda l: float(l.double().mean()), "you returned the mean loss itself. Perplexity is its exponential."),
        (lambda l: float(l.double().exp().mean()), "you took exp of every token's loss, then the mean. Average the "
                                          "losses first (the mean log-loss), then exponentiate once."),
        (lambda l: float(2 ** l.double().mean()), "the losses are in nats (natural log, what cross_entropy returns): "
                                         "use exp, not 2**."),
        (lambda l: float(l.double().sum().exp()), "exp of the *sum* grows with the number of tokens: use the mean."),
        (lambda l: float(l.double().mean().exp() ** (1 / len(l))) if len(l) else 0.0,
         "you took the len-th root of exp(mean loss): the mean already divides by the number of "
         "tokens, so exponentiate the mean and stop there."),
    ],
    hints=["Perplexity is exp(mean cross-entropy per token), with the loss in nats.",
           "`math.exp(token_losses.mean().item())`"],
    solution="```python\ndef perplexity_from_losses(token_losses):\n"
             "    return math.exp(token_losses.mean().item())\n```",
    correct_message="a perplexity of P means the model is, on average, as unsure as if it picked "
                    "uniformly among P tokens.",
)


# -- q2: the distribution one sampling step draws from ----------------------------------------
def _nucleus_cases():
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(30, generator=g) * 2.5
    small = torch.tensor([2.0, 1.0, 0.5, -1.0, -3.0])
    return [((logits, 1.0, 0.9), {}), ((logits, 0.5, 0.8), {}), ((logits, 2.0, 0.95), {}),
            ((small, 1.0, 0.7), {}), ((small, 1.3, 1.0), {}), ((small, 0.7, 0.3), {})]


def _no_renorm(logits, temperature, top_p):
    probs = torch.softmax(logits / temperature, -1)
    keep = nucleus_probs(logits, temperature, top_p) > 0
    return probs * keep


def _times_temperature(logits, temperature, top_p):
    return nucleus_probs(logits * temperature, 1.0, top_p)


def _strict(logits, temperature, top_p):
    """Keeps only tokens whose cumulative probability (themselves included) stays below top_p."""
    probs = torch.softmax(logits / temperature, -1)
    sorted_probs, order = probs.sort(descending=True)
    keep_sorted = sorted_probs.cumsum(-1) <= top_p
    keep_sorted[0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    out = probs * keep
    return out / out.sum()


def _sorted_order(logits, temperature, top_p):
    probs = torch.softmax(logits / temperature, -1)
    sorted_probs, _ = probs.sort(descending=True)
    keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
    kept = sorted_probs * keep
    return kept / kept.sum()


def _top_p_first(logits, temperature, top_p):
    keep = nucleus_probs(logits, 1.0, top_p) > 0
    probs = torch.softmax(logits / temperature, -1) * keep
    return probs / probs.sum()


q2 = FunctionProblem(
    name="q2",
    var="sampling_distribution",
    reference=nucleus_probs,
    cases=_nucleus_cases,
    rtol=1e-4, atol=1e-6,
    mistakes=[
        (_no_renorm, "the kept probabilities must be renormalised to sum to 1 before sampling."),
        (_times_temperature, "divide the logits by the temperature (T > 1 flattens, T < 1 sharpens); "
                             "you multiplied."),
        (_strict, "the nucleus is the *smallest* set whose probabilities add up to at least top_p, so it "
                  "includes the token that crosses the threshold. Yours stops just before it."),
        (_top_p_first, "apply the temperature first and choose the nucleus from the tempered "
                       "probabilities (that is what `generate` does)."),
        (_sorted_order, "your probabilities are in *sorted* order; put them back in vocabulary "
                        "order (token i's probability at position i), e.g. with `scatter`."),
    ],
    hints=["`probs = torch.softmax(logits / temperature, -1)`, then sort them in decreasing order.",
           "Keep a sorted token if the cumulative probability *before* it is still below top_p "
           "(`cum - sorted_probs < top_p`); put the mask back in vocabulary order with `scatter`, "
           "zero the rest and divide by the sum."],
    solution="```python\ndef sampling_distribution(logits, temperature, top_p):\n"
             "    probs = torch.softmax(logits / temperature, dim=-1)\n"
             "    sorted_probs, order = probs.sort(descending=True)\n"
             "    before = sorted_probs.cumsum(-1) - sorted_probs\n"
             "    keep_sorted = before < top_p\n"
             "    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)\n"
             "    kept = probs * keep\n"
             "    return kept / kept.sum(-1, keepdim=True)\n```",
)

q3 = ThoughtProblem(
    name="q3",
    solution="The teacher's next-token distribution says much more than its top token: after "
             "`def` it spreads probability over many plausible names, after `return` over values "
             "and expressions. Those small probabilities are the dark knowledge of lesson 01, now "
             "over thousands of tokens at every position of every sequence. A student trained on "
             "them learns which alternatives the teacher considers close, not only which one it "
             "picks -- lesson 06 does exactly that. An API that returns only sampled text hides "
             "them; one that returns `top_logprobs` exposes a slice of them.",
)
