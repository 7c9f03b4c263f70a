"""Generation for the API: prompt text to token ids, sampling with log-probabilities, stop.

:func:`generate` samples ``n`` continuations of one prompt with a key-value cache, keeping
each chosen token's log-probability and the top alternatives of the model's own
distribution (temperature 1, before top-p): what a distiller wants as soft targets.
:func:`finish_text` decodes a choice and cuts it at a stop sequence. Taught in lesson 07.

Part III's watermark goes into :func:`next_token`, the one place a token is chosen, and so
does lesson 11's antidistillation ``nudge`` (:mod:`course_utils.antidistill`).
"""
from __future__ import annotations

import secrets

from ..config import API_MODEL_PARAMS, few_threads


def chat_text(tokenizer, messages: list, prompt_format=None) -> str:
    """The model's text for chat ``messages``: ``prompt_format(messages)`` if given, else the
    tokenizer's chat template if it has one, else the contents joined by newlines (which suits
    a base model that continues text)."""
    if prompt_format is not None:
        return prompt_format(messages)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(m["content"] for m in messages)


def prompt_ids(tokenizer, text: str) -> list[int]:
    """Token ids of ``text``; an empty text becomes one BOS (else EOS) token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        bos = tokenizer.bos_token_id
        if bos is None:
            bos = tokenizer.eos_token_id
        ids = [bos if bos is not None else 0]
    return list(ids)


def next_token(logits, temperature: float, top_p: float, generator, watermark=None,
               prev_ids=None, bonus=None):
    """Choose each row's next token: greedy at temperature 0, else nucleus sampling.

    With a ``watermark`` (a :class:`course_utils.watermark.Watermark`, lesson 10) the green list
    seeded by each row's previous token (``prev_ids``) gets its bias first; without one the
    logits are untouched (bitwise the same choices as before the watermark existed).
    ``bonus`` (lesson 11's antidistillation, ``lam * Delta``) is added to ``logits /
    temperature``; at temperature 0 the choice is the mode of ``logits + bonus``."""
    import torch
    if watermark is not None:
        logits = watermark.bias_logits(prev_ids.reshape(-1, 1), logits)
    if temperature == 0:
        return (logits if bonus is None else logits + bonus).argmax(dim=-1)
    scaled = logits / temperature
    if bonus is not None:
        scaled = scaled + bonus
    probs = torch.softmax(scaled, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        keep[:, 0] = True
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def generate(model, tokenizer, prompt_ids: list[int], *, max_tokens: int, temperature: float,
             top_p: float, n: int, top_k_logprobs: int, stop: list[str], seed: int | None,
             context_length: int, watermark=None, nudge=None):
    """Sample ``n`` continuations; returns per choice (ids, logprobs, top, finish_reason).

    ``watermark``: the provider's green-list watermark (lesson 10), or None. ``nudge``: lesson
    11's antidistillation add-on (``nudge(step_ids, attention_mask)`` gives the bonus of each
    step), or None. The log-probabilities returned stay the model's own (before either)."""
    import torch
    generator = torch.Generator().manual_seed(seed if seed is not None else secrets.randbits(62))
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        return _sample_loop(model, tokenizer, prompt_ids, max_tokens, temperature, top_p, n,
                            top_k_logprobs, stop, generator, context_length, watermark, nudge)


def _sample_loop(model, tokenizer, prompt_ids, max_tokens, temperature, top_p, n,
                 top_k_logprobs, stop, generator, context_length, watermark=None, nudge=None):
    import torch
    from ..lm import forward_cached
    eos = tokenizer.eos_token_id
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids] * n, device=device)
    out_ids, out_lp, out_top = [[] for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)]
    finish = [None] * n
    past = None
    for step in range(max_tokens):
        mask = torch.ones(n, len(prompt_ids) + step, dtype=torch.long, device=device)
        logits, past = forward_cached(model, ids, past, mask)
        logits = logits[:, -1, :].float().cpu()
        logp = torch.log_softmax(logits, dim=-1)
        bonus = nudge(ids, mask) if nudge is not None else None
        chosen = next_token(logits, temperature, top_p, generator, watermark,
                            ids[:, -1].cpu() if watermark is not None else None, bonus)
        if top_k_logprobs:
            top_v, top_i = logp.topk(top_k_logprobs, dim=-1)
        for row in range(n):
            if finish[row] is not None:
                continue
            tok = int(chosen[row])
            out_ids[row].append(tok)
            out_lp[row].append(float(logp[row, tok]))
            # one entry per token, empty without alternatives (so that `logprobs` without
            # `top_logprobs` still lists every token)
            out_top[row].append(list(zip(top_i[row].tolist(), top_v[row].tolist()))
                                if top_k_logprobs else [])
            if eos is not None and tok == eos:
                finish[row] = "stop"
            elif stop and any(s in tokenizer.decode(out_ids[row]) for s in stop):
                finish[row] = "stop"
        if all(f is not None for f in finish):
            break
        if len(prompt_ids) + step + 1 >= context_length:
            break
        ids = chosen.unsqueeze(-1).to(device)
    return [(out_ids[r], out_lp[r], out_top[r], finish[r] or "length") for r in range(n)]


def finish_text(tokenizer, ids, logprobs, top, stop):
    """Decode a choice, cut at the first stop sequence (dropping tokens after it)."""
    eos = tokenizer.eos_token_id
    if ids and eos is not None and ids[-1] == eos:
        ids, logprobs, top = ids[:-1], logprobs[:-1], top[:-1]
    text = tokenizer.decode(ids)
    if stop:
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
            keep = 0
            while keep < len(ids) and len(tokenizer.decode(ids[:keep + 1])) <= cut:
                keep += 1
            ids, logprobs, top = ids[:keep], logprobs[:keep], top[:keep]
    return text, ids, logprobs, top
