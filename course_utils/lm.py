"""Training, evaluating and sampling causal language models (taught in lessons 05-06, used to 08).

* ``train_lm``     -- a plain PyTorch loop: next-token cross-entropy, or, given a teacher,
  a token-level distillation loss from :mod:`course_utils.lm_losses`; the same step budget
  and the same batches for every run with the same seed, so runs compare fairly;
* ``KDTrainer``    -- the same idea as a ``transformers.Trainer`` subclass (the ecosystem's
  way), logging into the same :class:`LMHistory`;
* ``evaluate_lm``/``perplexity`` -- mean next-token loss, perplexity ``exp(loss)``, and
  top-1 agreement with a teacher (:func:`course_utils.metrics.agreement` at every position,
  against the teacher's answers from ``teacher_top1``);
* ``warmup_cosine`` -- the learning-rate schedule of every LM trainer (here and in
  :mod:`course_utils.seqkd`); every trainer returns an :class:`LMHistory`;
* ``sample``, ``next_token_probs`` -- generation with temperature / top-p through
  ``generate``, and a look at one next-token distribution (the teacher's dark knowledge);
* ``forward_cached``, ``greedy_continue``, ``sample_continuations`` -- one forward pass on a
  key-value cache (the API's sampler runs on it), greedy continuations of a batch of
  same-length prompts, and the course's own sampling loop (lessons 10-11).

Every model here is a transformers causal LM: ``model(input_ids).logits`` has shape
``(batch, length, vocab)`` and position t predicts token t+1.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import API_MODEL_PARAMS, few_threads, get_device
from .lm_losses import lm_kd_loss, shift_for_lm


@dataclass
class LMHistory:
    """What happened during a language-model training run.

    ``seconds`` counts only this model's optimizer steps (not evaluation, and not a teacher's
    forward pass shared between students), so ``tokens_per_second`` is its training speed.
    """
    label: str = ""
    step: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    valid_step: list = field(default_factory=list)
    valid_loss: list = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0

    @property
    def valid_ppl(self) -> list:
        return [math.exp(min(v, 50.0)) for v in self.valid_loss]

    @property
    def final_ppl(self) -> float:
        return self.valid_ppl[-1] if self.valid_loss else float("nan")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LMHistory":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _ids(batch) -> torch.Tensor:
    return batch["input_ids"] if isinstance(batch, dict) else batch


def _block_tensor(dataset) -> torch.Tensor:
    """All blocks of a packed dataset (or a tensor) as one ``(n_blocks, block_size)`` tensor."""
    if torch.is_tensor(dataset):
        return dataset
    ids = dataset[0:len(dataset)]["input_ids"]  # a slice (datasets >= 3 returns Column for ds[col])
    if torch.is_tensor(ids):
        return ids
    return torch.stack([torch.as_tensor(x) for x in ids]) if len(ids) else torch.zeros(0, 0, dtype=torch.long)


def block_logits(model, ids: torch.Tensor) -> torch.Tensor:
    """``model(ids).logits`` for blocks with no padding in them (packed text, a prompt).

    The all-ones attention mask says so: without it transformers cannot tell a separator token
    (our tokenizer's end-of-text is also its pad token) from padding, and warns.
    """
    return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


@torch.no_grad()
def evaluate_lm(model, dataset, teacher=None, batch_size: int = 16, max_blocks: int | None = None,
                device=None, teacher_top1: torch.Tensor | None = None) -> dict:
    """Mean next-token loss, perplexity and (with a teacher) top-1 agreement on ``dataset``.

    ``agreement`` is the fraction of positions where the student's most likely next token
    is the teacher's most likely next token: a measure of *fidelity*, not of accuracy.
    Scoring many students against one teacher, pass ``teacher_top1=teacher_top1(teacher,
    dataset)`` instead of ``teacher``: the teacher then runs once, not once per student.

    Taught in lesson 05.
    """
    with few_threads(model):
        return _evaluate_lm(model, dataset, teacher, batch_size, max_blocks, device, teacher_top1)


@torch.no_grad()
def teacher_top1(teacher, dataset, batch_size: int = 16, max_blocks: int | None = None) -> torch.Tensor:
    """The teacher's most likely next token at every position of ``dataset``'s blocks
    (``(n_blocks, block_size - 1)``), for :func:`evaluate_lm`'s ``teacher_top1``."""
    blocks = _blocks(dataset, max_blocks)
    device = next(teacher.parameters()).device
    was_training = teacher.training
    teacher.eval()
    with few_threads(teacher):
        top = [block_logits(teacher, blocks[i:i + batch_size].to(device))[:, :-1].argmax(-1).cpu()
               for i in range(0, len(blocks), batch_size)]
    teacher.train(was_training)
    return torch.cat(top) if top else torch.zeros(0, 0, dtype=torch.long)


def _blocks(dataset, max_blocks: int | None) -> torch.Tensor:
    blocks = _block_tensor(dataset)
    return blocks if max_blocks is None else blocks[:max_blocks]


def _evaluate_lm(model, dataset, teacher, batch_size, max_blocks, device, top1=None):
    blocks = _blocks(dataset, max_blocks)
    if top1 is not None and tuple(top1.shape) != (len(blocks), blocks.shape[1] - 1):
        raise ValueError(f"teacher_top1 has shape {tuple(top1.shape)}, but the blocks need "
                         f"{(len(blocks), blocks.shape[1] - 1)}: compute it with "
                         "teacher_top1(teacher, dataset) on the same blocks")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    if top1 is None and teacher is not None:   # one path for agreement: the teacher's answers
        top1 = teacher_top1(teacher.to(device).eval(), blocks, batch_size)
    total, count, agree = 0.0, 0, 0
    for i in range(0, len(blocks), batch_size):
        ids = blocks[i:i + batch_size].to(device)
        logits = block_logits(model, ids)[:, :-1].float()
        targets = ids[:, 1:]
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                 reduction="sum").item()
        count += targets.numel()
        if top1 is not None:
            agree += (logits.argmax(-1).cpu() == top1[i:i + batch_size]).sum().item()
    model.train(was_training)
    loss = total / max(count, 1)
    out = {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "tokens": count}
    if top1 is not None:
        out["agreement"] = agree / max(count, 1)
    return out


def perplexity(model, dataset, batch_size: int = 16, max_blocks: int | None = None) -> float:
    """``exp(mean next-token cross-entropy)`` of ``model`` on the blocks of ``dataset``.

    Taught in lesson 05. ``dataset``: packed blocks, or a LongTensor ``(n_blocks, length)``.
    """
    return evaluate_lm(model, dataset, batch_size=batch_size, max_blocks=max_blocks)["perplexity"]


def warmup_cosine(optimizer, steps: int, warmup: int | None = None, floor: float = 0.1):
    """The learning-rate schedule of every LM trainer: linear warm-up over ``warmup`` steps
    (default: the first 5%), then cosine decay to ``floor`` times the peak at ``steps``."""
    warmup = max(1, steps // 20) if warmup is None else max(1, warmup)

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batch_order(n_blocks: int, steps: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """The block indices of each step: epochs of seeded permutations, cut into batches."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(n_blocks, generator=gen)
                       for _ in range(steps * batch_size // max(n_blocks, 1) + 1)])
    return [order[s * batch_size:(s + 1) * batch_size] for s in range(steps)]


def make_optimizer(model, lr: float, steps: int, weight_decay: float = 0.01, warmup: int | None = None,
                   fused: bool = False):
    """AdamW (no decay on biases and norms) with linear warm-up and cosine decay to 10%.

    ``fused=True`` (CUDA only) updates every parameter in one kernel (lesson 13)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr,
                                  **({"fused": True} if fused else {}))
    return optimizer, warmup_cosine(optimizer, steps, warmup)


def lm_step(model, ids, optimizer, scheduler=None, teacher_logits=None, loss_fn=None) -> float:
    """One optimizer step on a batch of token ids; returns the loss (taught in lesson 06).

    Without ``teacher_logits``: next-token cross-entropy. With them:
    ``loss_fn(student_logits, teacher_logits, labels)`` after shifting all three so that
    position t is compared on predicting token t+1.
    """
    if teacher_logits is None:   # the loss transformers computes from labels=ids, written out
        logits = block_logits(model, ids)[:, :-1]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
    else:
        s, y, t = shift_for_lm(block_logits(model, ids), ids, teacher_logits)
        loss = loss_fn(s, t, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.item()


def train_lm(model, train, steps: int, batch_size: int = 16, lr: float = 1e-3, valid=None,
             eval_every: int | None = None, eval_blocks: int | None = 64, teacher=None,
             loss_fn=None, seed: int = 0, device=None, weight_decay: float = 0.01,
             warmup: int | None = None, desc: str = "train", progress: bool = True) -> LMHistory:
    """Train a causal LM for ``steps`` optimizer steps on the packed blocks of ``train``.

    Without a teacher the loss is next-token cross-entropy (``model(ids, labels=ids).loss``).
    With ``teacher`` the loss is ``loss_fn(student_logits, teacher_logits, labels)`` on aligned
    (shifted) positions, by default forward KL (:func:`course_utils.lm_losses.lm_kd_loss`).
    AdamW with linear warm-up and cosine decay to 10%; the batches depend only on ``seed``,
    so every student of a comparison sees the same tokens in the same order.

    Taught in lesson 05.
    """
    runs = compare_students({desc: (model, None if teacher is None else
                                    (loss_fn or (lambda s, t, y: lm_kd_loss(s, t, y, kind="forward"))))},
                            train, steps, batch_size, lr, teacher=teacher, valid=valid,
                            eval_every=eval_every, eval_blocks=eval_blocks, seed=seed, device=device,
                            weight_decay=weight_decay, warmup=warmup, desc=desc, progress=progress)
    return runs[desc]


def compare_students(runs: dict, train, steps: int, batch_size: int = 16, lr: float = 1e-3,
                     teacher=None, valid=None, eval_every: int | None = None,
                     eval_blocks: int | None = 64, seed: int = 0, device=None,
                     weight_decay: float = 0.01, warmup: int | None = None, desc: str = "students",
                     progress: bool = True) -> dict:
    """Train several students side by side on the same batches; returns ``{name: LMHistory}``.

    ``runs`` maps a name to ``(model, loss_fn)``; ``loss_fn=None`` means hard labels
    (cross-entropy), otherwise ``loss_fn(student_logits, teacher_logits, labels)``. Every
    student takes the same optimizer steps on the same batches (the order depends only on
    ``seed``), and the teacher's logits are computed once per batch and shared, so one
    comparison costs one teacher forward pass per step, however many students learn from it.

    Taught in lesson 06.
    """
    device = device or get_device()
    models = [m for m, _ in runs.values()]
    with few_threads(*models):
        return _compare_students(runs, train, steps, batch_size, lr, teacher, valid, eval_every,
                                 eval_blocks, seed, device, weight_decay, warmup, desc, progress)


def _compare_students(runs, train, steps, batch_size, lr, teacher, valid, eval_every, eval_blocks,
                      seed, device, weight_decay, warmup, desc, progress):
    blocks = _block_tensor(train)
    if len(blocks) == 0:
        raise ValueError("The training set has no blocks.")
    needs_teacher = any(fn is not None for _, fn in runs.values())
    if needs_teacher and teacher is None:
        raise ValueError("A loss function was given but no teacher: pass teacher=... .")
    if teacher is not None:
        teacher.to(device).eval()
    eval_every = eval_every or max(1, steps // 10)
    state = {}
    for name, (model, fn) in runs.items():
        model.to(device).train()
        optimizer, scheduler = make_optimizer(model, lr, steps, weight_decay, warmup)
        state[name] = (model, fn, optimizer, scheduler, LMHistory(label=name))
    torch.manual_seed(seed)
    bar = tqdm(batch_order(len(blocks), steps, batch_size, seed), desc=desc, disable=not progress,
               leave=False)
    for step, index in enumerate(bar, start=1):
        ids = blocks[index].to(device)
        teacher_logits = None
        if needs_teacher:
            with torch.no_grad():
                teacher_logits = block_logits(teacher, ids)
        for name, (model, fn, optimizer, scheduler, history) in state.items():
            start = time.perf_counter()
            loss = lm_step(model, ids, optimizer, scheduler, teacher_logits if fn else None, fn)
            history.seconds += time.perf_counter() - start
            history.step.append(step)
            history.train_loss.append(loss)
            history.tokens += ids.numel()
            if valid is not None and (step % eval_every == 0 or step == steps):
                result = evaluate_lm(model, valid, max_blocks=eval_blocks, device=device)
                model.train()
                history.valid_step.append(step)
                history.valid_loss.append(result["loss"])
        if len(state) == 1:
            h = next(iter(state.values()))[-1]
            post = {"loss": f"{h.train_loss[-1]:.3f}"}
            if h.valid_loss:
                post["val_ppl"] = f"{h.final_ppl:.1f}"
            bar.set_postfix(post)
    for model, *_ in state.values():
        model.eval()
    return {name: st[-1] for name, st in state.items()}


# ---------------------------------------------------------------------------------------
# The transformers way: a Trainer subclass
# ---------------------------------------------------------------------------------------
def _kd_trainer_class():
    from transformers import Trainer, TrainerCallback

    class HistoryCallback(TrainerCallback):
        """Copies the Trainer's logs into an :class:`LMHistory`."""

        def __init__(self, history: LMHistory):
            self.history = history

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                self.history.step.append(state.global_step)
                self.history.train_loss.append(float(logs["loss"]))
            if "eval_loss" in logs:
                self.history.valid_step.append(state.global_step)
                self.history.valid_loss.append(float(logs["eval_loss"]))

    class KDTrainer(Trainer):
        """A ``transformers.Trainer`` whose loss adds a teacher's token-level distillation term.

        ``KDTrainer(model=student, teacher_model=teacher, kd_kind="forward", temperature=1.0,
        alpha=1.0, beta=0.5, top_k=None, args=..., train_dataset=..., data_collator=...)``.
        The loss is ``alpha * divergence(student, teacher) + (1 - alpha) * CE`` on the
        positions whose label is not ``IGNORE_INDEX`` (see :func:`course_utils.lm_losses.lm_kd_loss`).
        ``compute_loss`` follows the current signature, ``num_items_in_batch`` included.
        """

        def __init__(self, *args, teacher_model=None, kd_kind: str = "forward",
                     temperature: float = 1.0, alpha: float = 1.0, beta: float = 0.5,
                     top_k: int | None = None, history: LMHistory | None = None, **kwargs):
            if teacher_model is None:
                raise ValueError("KDTrainer needs teacher_model=... (the model to distil from).")
            super().__init__(*args, **kwargs)
            self.teacher_model = teacher_model.to(self.args.device).eval()
            for p in self.teacher_model.parameters():
                p.requires_grad_(False)
            self.kd = dict(kind=kd_kind, T=temperature, alpha=alpha, beta=beta, k=top_k)
            self.history = history if history is not None else LMHistory(label="KDTrainer")
            self.add_callback(HistoryCallback(self.history))

        def train(self, *args, **kwargs):
            with few_threads(self.model):
                return super().train(*args, **kwargs)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.get("labels", inputs["input_ids"])
            model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            outputs = model(**model_inputs)
            with torch.no_grad():
                teacher_logits = self.teacher_model(**model_inputs).logits
            s, y, t = shift_for_lm(outputs.logits, labels, teacher_logits)
            loss = lm_kd_loss(s, t, y, **self.kd)
            return (loss, outputs) if return_outputs else loss

    return KDTrainer, HistoryCallback


def __getattr__(name):  # KDTrainer is built on first use, so importing this module stays light
    if name in ("KDTrainer", "HistoryCallback"):
        kd, cb = _kd_trainer_class()
        globals().update(KDTrainer=kd, HistoryCallback=cb)
        return globals()[name]
    raise AttributeError(name)


def lm_collator(examples):
    """Batch packed blocks for a Trainer: ``input_ids`` and ``labels`` (the same ids)."""
    ids = torch.stack([torch.as_tensor(_ids(e)) for e in examples])
    return {"input_ids": ids, "labels": ids.clone()}


# ---------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def sample(model, tokenizer, prompt: str, max_new_tokens: int = 60, temperature: float = 1.0,
           top_p: float = 1.0, seed: int = 0, num_return_sequences: int = 1):
    """Continue ``prompt`` by sampling with ``temperature`` and nucleus ``top_p`` via ``generate``.

    ``temperature=0`` means greedy decoding. Returns the continuation (a str, or a list of
    them when ``num_return_sequences > 1``), without the prompt.

    Taught in lesson 05.
    """
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"temperature must be >= 0 and 0 < top_p <= 1 (got {temperature}, {top_p}).")
    device = next(model.parameters()).device
    model.eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
    if ids.shape[1] == 0:
        ids = torch.tensor([[tokenizer.eos_token_id]], device=device)
    torch.manual_seed(seed)
    kwargs = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if temperature > 0 \
        else dict(do_sample=False)
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    if limit:
        max_new_tokens = max(1, min(max_new_tokens, limit - ids.shape[1]))
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         num_return_sequences=num_return_sequences,
                         pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id, **kwargs)
    texts = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    return texts[0] if num_return_sequences == 1 else texts


def forward_cached(model, input_ids, cache=None, attention_mask=None):
    """One forward pass that starts from the key-value ``cache`` (None: none yet) and returns
    ``(logits, cache)``, the cache now holding ``input_ids`` too.

    transformers renamed the forward argument (``past_key_values`` became ``cache``, and the old
    name warns); this passes whichever the installed version takes. Taught in lesson 07 (the
    API's sampler, :mod:`course_utils.api.generation`, runs on it).
    """
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **{name: cache})
    return out.logits, (out["cache"] if "cache" in out else out["past_key_values"])


def sample_continuations(model, input_ids, *, max_new_tokens: int, seed: int = 0,
                         temperature: float = 1.0, attention_mask=None, process=None,
                         nudge=None) -> list[list[int]]:
    """Sample continuations of a batch of prompts with the course's own loop; returns only the
    new tokens (a list of id lists, each cut at EOS).

    Each step runs :func:`forward_cached` with the attention mask (``generate`` drops an
    all-ones mask, then warns about padding once a finished row is fed its end token) and
    draws from ``softmax(process(so_far, logits) / temperature + nudge(step_ids, mask))``:
    ``process`` is a logits processor (lesson 10's watermark), ``nudge`` an add-on after the
    temperature (lesson 11's antidistillation); either may be None. A row that has written
    EOS is filled with it from then on. Used by
    :func:`course_utils.watermark.watermarked_generate` and
    :func:`course_utils.antidistill.antidistill_generate`."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    ids = torch.as_tensor(input_ids, dtype=torch.long).to(device)
    batch, length = ids.shape
    if attention_mask is None:
        attention_mask = torch.ones_like(ids)
    mask = torch.cat([attention_mask.to(device),
                      torch.ones(batch, max_new_tokens, dtype=torch.long, device=device)], dim=1)
    eos = model.config.eos_token_id
    done = torch.zeros(batch, dtype=torch.bool)
    cache, step_ids, so_far, new = None, ids, ids, []
    with torch.no_grad(), few_threads(model, max_params=API_MODEL_PARAMS):
        for step in range(max_new_tokens):
            step_mask = mask[:, :length + step]
            logits, cache = forward_cached(model, step_ids, cache, step_mask)
            scores = logits[:, -1].float()
            if process is not None:
                scores = process(so_far, scores)
            scaled = scores / temperature
            if nudge is not None:
                scaled = scaled + nudge(step_ids, step_mask).to(scaled.device)
            probs = torch.softmax(scaled, dim=-1).cpu()
            chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            if eos is not None:
                chosen = chosen.masked_fill(done, eos)
                done |= chosen == eos
            new.append(chosen)
            step_ids = chosen.unsqueeze(1).to(device)
            so_far = torch.cat([so_far, step_ids], dim=1)
            if done.all():
                break
    rows = torch.stack(new, dim=1).tolist() if new else [[] for _ in range(batch)]
    return [row[:row.index(eos)] if eos is not None and eos in row else row for row in rows]


@torch.no_grad()
def greedy_continue(model, input_ids: torch.Tensor, max_new_tokens: int,
                    eos_token_id: int | None = None) -> torch.Tensor:
    """Greedy continuations (``max_new_tokens`` each) of a batch of prompts of one length.

    The prompts are not padded, so the attention mask is all ones and is passed at every step
    (``generate`` drops an all-ones mask, then warns about padding once a finished row is fed
    its pad token). A row that has written ``eos_token_id`` is filled with it from then on.
    Returns only the new tokens, ``(batch, max_new_tokens)``. Used by lesson 08.
    """
    ids = input_ids.to(next(model.parameters()).device)
    batch, length = ids.shape
    mask = torch.ones(batch, length + max_new_tokens, dtype=torch.long, device=ids.device)
    done = torch.zeros(batch, dtype=torch.bool, device=ids.device)
    cache, step_ids, out = None, ids, []
    for step in range(max_new_tokens):
        logits, cache = forward_cached(model, step_ids, cache, mask[:, :length + step])
        chosen = logits[:, -1].argmax(-1)
        if eos_token_id is not None:
            chosen = chosen.masked_fill(done, eos_token_id)
            done |= chosen == eos_token_id
        out.append(chosen)
        step_ids = chosen.unsqueeze(-1)
    return torch.stack(out, dim=1) if out else ids[:, :0]


@torch.no_grad()
def next_token_probs(model, tokenizer, prompt: str, top: int = 10, temperature: float = 1.0):
    """The ``top`` most likely next tokens after ``prompt`` and their probabilities.

    Taught in lesson 05.
    """
    device = next(model.parameters()).device
    model.eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
    logits = block_logits(model, ids)[0, -1].float()
    probs = torch.softmax(logits / temperature, dim=-1)
    values, indices = probs.topk(top)
    return [(tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, indices)]


def nucleus_probs(logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0) -> torch.Tensor:
    """The distribution one sampling step draws from: temperature, then top-p (nucleus).

    ``softmax(logits / temperature)``, restricted to the smallest set of most likely tokens
    whose probabilities add up to at least ``top_p`` (Holtzman et al. 2020,
    arXiv:1904.09751), renormalised. Works on the last axis.

    Taught in lesson 05.
    """
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError(f"temperature must be > 0 and 0 < top_p <= 1 (got {temperature}, {top_p}).")
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < top_p)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)
