"""The capstone's fast training loop, and how to measure it (taught in lesson 13).

Two loops over the same packed blocks, the same batches and the same model:

* the **naive** loop: fp32, eager, a plain AdamW, and -- when distilling -- the teacher run on
  every batch;
* the **course's** loop (:func:`choose_recipe`): mixed precision chosen by the hardware (bf16
  on Ampere-or-later GPUs; fp16 with a ``GradScaler`` on older ones such as Colab's T4, whose
  fp16 gradients would underflow without it; bf16 on a CPU with native bf16; fp32 elsewhere), ``torch.compile`` where it pays (on CUDA; off on a CPU, where it measured x0.90
  on this course's teacher), fused AdamW on CUDA, and the teacher's top-k logits computed
  **once** and cached on disk (:func:`cache_topk_logits`) instead of a teacher forward pass
  per step.

Every run writes a :class:`RunLog` -- one record per optimizer step (tokens, seconds, loss)
and the evaluations -- from which :func:`tokens_per_second`, :func:`run_cost` (at a stated
price per GPU-hour) and :func:`time_to_loss` (wall time to a target validation loss, the way
the modded-nanoGPT speedruns judge a recipe) are computed. :func:`peak_memory_mb`,
:func:`generation_speed` and :func:`profile_step` (a ``torch.profiler`` summary) complete the
table a team would ship with.

The optimizer (:func:`course_utils.lm.make_optimizer`), schedule
(:func:`course_utils.lm.warmup_cosine`), batch order (:func:`course_utils.lm.batch_order`),
evaluation (:func:`course_utils.lm.evaluate_lm`) and losses
(:func:`course_utils.lm_losses.topk_kl`) are the course's own, shared with lessons 05-07.
"""
from __future__ import annotations

import contextlib
import math
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import few_threads, get_device
from .io import atomic_path, cache_entry, cached
from .lm import LMHistory, batch_order, block_logits, evaluate_lm, make_optimizer
from .lm_losses import next_token_ce, shift_for_lm, topk_kl

# A stated price, not a quote: on-demand list prices per GPU-hour in late 2025 were about
# 0.35 dollars for a T4 and 2-4 dollars for an H100, depending on the cloud.
PRICE_PER_GPU_HOUR = {"T4": 0.35, "A100": 1.5, "H100": 3.0, "cpu": 0.0}


# ---------------------------------------------------------------------------------------
# Recipes: how a loop runs
# ---------------------------------------------------------------------------------------
@dataclass
class Recipe:
    """How a training loop runs: autocast dtype (None: fp32), ``GradScaler``, compile, fused AdamW,
    and the teacher's logits (``"cached"`` top-k from disk, or ``"live"``: a forward pass per step)."""
    name: str
    dtype: torch.dtype | None = None
    scaler: bool = False
    compile: bool = False
    fused: bool = False
    teacher: str = "cached"
    reason: str = ""

    def describe(self) -> str:
        dtype = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        parts = [dtype + (" + GradScaler" if self.scaler else ""),
                 "torch.compile" if self.compile else "eager",
                 "fused AdamW" if self.fused else "AdamW", f"teacher {self.teacher}"]
        return f"{self.name}: " + ", ".join(parts) + (f" ({self.reason})" if self.reason else "")


def naive_recipe() -> Recipe:
    """The baseline: fp32, eager, plain AdamW, the teacher run on every step."""
    return Recipe("naive", None, False, False, False, "live", "the baseline")


def choose_recipe(device=None, compile: bool | None = None) -> Recipe:
    """The course's loop on ``device``: the fastest precision the hardware supports.

    * CUDA with bf16 (compute capability 8.0+: A100, L4, H100...): bf16 autocast, no scaler;
    * older CUDA (a T4 is 7.5): fp16 autocast with a ``GradScaler`` (fp16's small range makes
      small gradients underflow to zero; the scaler multiplies the loss first and checks for
      infinities before each step);
    * CPU: bf16 autocast only where the CPU computes in bf16 natively (AVX512-BF16 or AMX);
      without it, on the course's 2-core machine, bf16 autocast measured x0.2-0.3 on the
      capstone's small models (one thread), so fp32; ``torch.compile`` off (x0.90 there);
    * anything else (Apple's MPS): fp32.

    ``compile=None`` turns ``torch.compile`` on for CUDA only. Taught in lesson 13.
    """
    device = torch.device(device or get_device())
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        use_compile = True if compile is None else compile
        if major >= 8 and torch.cuda.is_bf16_supported():
            return Recipe("course", torch.bfloat16, False, use_compile, True, "cached",
                          f"compute capability {major}.x has bf16 tensor cores")
        return Recipe("course", torch.float16, True, use_compile, True, "cached",
                      f"compute capability {major}.x: fp16 tensor cores, no bf16")
    if device.type == "cpu":
        if cpu_has_bf16():
            return Recipe("course", torch.bfloat16, False, bool(compile), False, "cached",
                          "this CPU computes in bf16 natively (AVX512-BF16 or AMX)")
        return Recipe("course", None, False, bool(compile), False, "cached",
                      "this CPU has no native bf16, where autocast measured x0.2-0.3 at the "
                      "capstone's sizes: fp32")
    return Recipe("course", None, False, bool(compile), False, "cached",
                  f"{device.type}: fp32 (no mixed precision assumed)")


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX tiles)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast(device, dtype):
    """``torch.autocast`` for ``dtype`` on ``device`` (a no-op context for fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def make_scaler(recipe: Recipe, device):
    """A ``torch.amp.GradScaler`` when the recipe needs one (fp16), else None."""
    if not recipe.scaler:
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def mixed_precision_step(model, ids, optimizer, scaler=None, dtype=None, clip: float = 1.0) -> float:
    """One optimizer step of next-token cross-entropy under autocast, with an optional
    ``GradScaler``: scale the loss, backward, unscale before clipping, step (skipped by the
    scaler when a gradient overflowed), update the scale. Returns the loss.

    Taught in lesson 13 (the exercise writes it).
    """
    device = ids.device
    with autocast(device, dtype):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    return float(loss.detach())


# ---------------------------------------------------------------------------------------
# The teacher's top-k logits, computed once and cached
# ---------------------------------------------------------------------------------------
@dataclass
class TopK:
    """The teacher's ``k`` largest logits at every position of every training block:
    ``indices`` (int16 when the vocabulary fits, else int32) and ``values`` (fp16), both of
    shape ``(blocks, block_size, k)``. ``k x 4`` bytes per token instead of ``vocab x 4``."""
    indices: torch.Tensor
    values: torch.Tensor

    def __getitem__(self, rows):
        return self.indices[rows].long(), self.values[rows].float()

    @property
    def nbytes(self) -> int:
        return self.indices.numel() * self.indices.element_size() + \
            self.values.numel() * self.values.element_size()


@torch.no_grad()
def compute_topk(teacher, blocks: torch.Tensor, k: int, batch_size: int = 32, device=None,
                 dtype=None, progress: bool = True) -> TopK:
    """Run ``teacher`` once over ``blocks`` and keep its top-``k`` logits per position."""
    device = torch.device(device or get_device())
    vocab = teacher.config.vocab_size
    if not (isinstance(k, int) and 1 <= k <= vocab):
        raise ValueError(f"k must be an integer between 1 and the vocabulary size {vocab}, got {k!r}.")
    teacher.to(device).eval()
    idx_dtype = torch.int16 if vocab <= 32767 else torch.int32
    indices, values = [], []
    with few_threads(teacher):
        for i in tqdm(range(0, len(blocks), batch_size), desc="teacher top-k", disable=not progress,
                      leave=False):
            with autocast(device, dtype):
                logits = block_logits(teacher, blocks[i:i + batch_size].to(device))
            v, ix = logits.float().topk(k, dim=-1)
            indices.append(ix.to(idx_dtype).cpu())
            values.append(v.half().cpu())
    return TopK(torch.cat(indices), torch.cat(values))


def cache_topk_logits(teacher, blocks: torch.Tensor, k: int, key: dict, device=None, dtype=None,
                      progress: bool = True, retrain: bool = False) -> tuple[TopK, bool]:
    """:func:`compute_topk`, cached on disk with :func:`course_utils.io.cached` (written to a
    temporary file and renamed into place). ``key`` must name the teacher and the blocks
    (e.g. the teacher's cache key and the corpus fingerprint). Returns ``(topk, from_cache)``.

    Taught in lesson 13.
    """
    path = cache_entry("topk", f"top{k}", {**key, "k": k, "shape": list(blocks.shape)}, suffix=".pt")

    def save(value, tmp):
        torch.save({"indices": value.indices, "values": value.values}, tmp)

    def load(p):
        d = torch.load(p, map_location="cpu", weights_only=True)
        return TopK(d["indices"], d["values"])

    return cached(path, lambda: compute_topk(teacher, blocks, k, device=device, dtype=dtype,
                                             progress=progress),
                  save, load, retrain=retrain, what="teacher top-k logits")


def topk_kd_loss(student_logits, ids, teacher, alpha: float = 0.5, T: float = 1.0, k: int | None = None):
    """``alpha * top-k forward KL(teacher || student) + (1 - alpha) * cross-entropy`` on the
    shifted positions. ``teacher`` is a pair ``(indices, values)`` of top-k logits (cached) or
    the teacher's full logits (live; ``k=None`` then means all of them)."""
    s, y = shift_for_lm(student_logits, ids)
    if isinstance(teacher, (tuple, list)):
        t = (teacher[0][:, :-1], teacher[1][:, :-1])
        k = k or t[0].shape[-1]
    else:
        t = teacher[:, :-1]
        k = k or t.shape[-1]
    soft = topk_kl(s, t, k, T=T)
    if alpha >= 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * next_token_ce(s, y)


# ---------------------------------------------------------------------------------------
# The run log, and what is computed from it
# ---------------------------------------------------------------------------------------
@dataclass
class RunLog:
    """What a run did, step by step. ``steps``: one dict per optimizer step with ``step``,
    ``tokens`` (this step's), ``seconds`` (this step's wall time, synchronised on a GPU) and
    ``loss``; ``evals``: ``{"step", "seconds"}`` (wall time since the start of training,
    evaluation excluded) and ``"loss"``. ``meta``: device, recipe, parameters, peak memory..."""
    label: str = ""
    steps: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunLog":
        return cls(**{k: d[k] for k in ("label", "steps", "evals", "meta") if k in d})

    @property
    def train_seconds(self) -> float:
        return sum(r["seconds"] for r in self.steps)

    def history(self) -> LMHistory:
        """The same run as an :class:`course_utils.lm.LMHistory` (for the course's plots)."""
        return LMHistory(label=self.label, step=[r["step"] for r in self.steps],
                         train_loss=[r["loss"] for r in self.steps],
                         valid_step=[e["step"] for e in self.evals],
                         valid_loss=[e["loss"] for e in self.evals],
                         tokens=sum(r["tokens"] for r in self.steps), seconds=self.train_seconds)


def tokens_per_second(log, skip: int = 1) -> float:
    """Training throughput from a run's step records: all tokens over all seconds, leaving out
    the first ``skip`` steps (warm-up: allocation, autotuning, compilation).

    Taught in lesson 13 (the exercise writes it)."""
    records = log.steps if isinstance(log, RunLog) else log
    kept = [r for r in records if "tokens" in r][skip:]
    seconds = sum(r["seconds"] for r in kept)
    return sum(r["tokens"] for r in kept) / seconds if seconds > 0 else float("nan")


def run_cost(log, price_per_gpu_hour: float, gpus: int = 1) -> float:
    """What the run's training steps cost: every step's seconds (warm-up included: it is
    paid for), in hours, times the price per GPU-hour, times the number of GPUs.

    Taught in lesson 13 (the exercise writes it)."""
    records = log.steps if isinstance(log, RunLog) else log
    seconds = sum(r["seconds"] for r in records if "tokens" in r)
    return seconds / 3600.0 * price_per_gpu_hour * gpus


def time_to_loss(log: RunLog, target: float) -> float:
    """Training seconds until the first evaluation at or below ``target`` (``inf`` if never):
    the speedrun's measure, which rewards a recipe for learning faster, not only for pushing
    more tokens per second."""
    for e in log.evals:
        if e["loss"] <= target:
            return e["seconds"]
    return float("inf")


def peak_memory_mb(device) -> float:
    """Peak memory in MiB: CUDA's ``max_memory_allocated`` on a GPU (reset it before a run with
    ``torch.cuda.reset_peak_memory_stats``); on a CPU the process's peak resident set size
    (all the process did so far, not this run alone)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------
def train_student(model, blocks: torch.Tensor, steps: int, batch_size: int = 16, lr: float = 3e-3,
                  recipe: Recipe | None = None, teacher=None, topk: TopK | None = None,
                  alpha: float = 0.5, T: float = 1.0, k: int | None = None, valid=None,
                  eval_every: int | None = None, eval_blocks: int | None = 64, seed: int = 0,
                  device=None, label: str = "", progress: bool = True, weight_decay: float = 0.01,
                  time_budget: float | None = None) -> RunLog:
    """Train ``model`` on ``blocks`` (LongTensor ``(n, block_size)``) with ``recipe``.

    Without a teacher: next-token cross-entropy. With one: :func:`topk_kd_loss` (``alpha`` x top-k
    KL + the rest cross-entropy), the teacher's logits taken from ``topk`` (cached, the
    course's way) when ``recipe.teacher == "cached"``, else from a forward pass of ``teacher``
    on every batch. The batches depend only on ``seed`` (:func:`course_utils.lm.batch_order`),
    so runs compare on the same tokens. ``time_budget`` (seconds of training) stops a run
    early. The progress bar shows tokens/s; tqdm adds the ETA. Returns a :class:`RunLog`.

    Taught in lesson 13.
    """
    recipe = recipe or choose_recipe(device)
    device = torch.device(device or get_device())
    distil = teacher is not None or topk is not None
    if distil and recipe.teacher == "cached" and topk is None:
        raise ValueError("This recipe reads the teacher's cached top-k logits: pass topk=... "
                         "(from cache_topk_logits), or use a recipe with teacher='live'.")
    if distil and recipe.teacher == "live" and teacher is None:
        raise ValueError("This recipe runs the teacher live: pass teacher=... .")
    if len(blocks) == 0:
        raise ValueError("The training set has no blocks.")
    model.to(device).train()
    if teacher is not None and recipe.teacher == "live":
        teacher.to(device).eval()
    optimizer, scheduler = make_optimizer(model, lr, steps, weight_decay,
                                          fused=recipe.fused and device.type == "cuda")
    scaler = make_scaler(recipe, device)
    forward = torch.compile(model) if recipe.compile else model
    log = RunLog(label=label or recipe.name, meta={
        "device": str(device), "recipe": recipe.describe(), "params": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size, "block_size": int(blocks.shape[1]), "seed": seed})
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    eval_every = eval_every or max(1, steps // 10)
    elapsed = 0.0
    torch.manual_seed(seed)
    order = batch_order(len(blocks), steps, batch_size, seed)
    models = [model] + ([teacher] if teacher is not None and recipe.teacher == "live" else [])
    with few_threads(*models):
        bar = tqdm(order, desc=label or recipe.name, disable=not progress, leave=False)
        for step, index in enumerate(bar, start=1):
            start = time.perf_counter()
            ids = blocks[index].to(device, non_blocking=True)
            with autocast(device, recipe.dtype):
                if distil:
                    if recipe.teacher == "cached":
                        t_idx, t_val = topk[index]
                        t_out = (t_idx.to(device), t_val.to(device))
                    else:
                        with torch.no_grad():
                            t_out = block_logits(teacher, ids)
                    loss = topk_kd_loss(block_logits(forward, ids), ids, t_out, alpha, T, k)
                else:
                    loss = forward(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            scheduler.step()
            value = float(loss.detach())       # synchronises a GPU, so the timing is honest
            _sync(device)
            seconds = time.perf_counter() - start
            elapsed += seconds
            log.steps.append({"step": step, "tokens": int(ids.numel()), "seconds": seconds, "loss": value})
            if step > 1:
                bar.set_postfix({"loss": f"{value:.3f}", "tok/s": f"{tokens_per_second(log):,.0f}"})
            last = step == steps or (time_budget is not None and elapsed >= time_budget)
            if valid is not None and (step % eval_every == 0 or last):
                result = evaluate_lm(model, valid, max_blocks=eval_blocks, device=device)
                model.train()
                log.evals.append({"step": step, "seconds": elapsed, "loss": result["loss"]})
            if last:
                break
        bar.close()
    model.eval()
    log.meta.update(peak_memory_mb=peak_memory_mb(device), train_seconds=elapsed,
                    tokens_per_second=tokens_per_second(log), steps_done=len(log.steps))
    return log


# ---------------------------------------------------------------------------------------
# Generation speed and a profile of where the time goes
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def generation_speed(model, prompt_ids: torch.Tensor, new_tokens: int = 32, repeats: int = 1,
                     device=None) -> float:
    """Greedy decoding speed in generated tokens per second (KV cache on, batch of one row per
    prompt; the best of ``repeats`` timed runs after one warm-up)."""
    device = torch.device(device or next(model.parameters()).device)
    model.to(device).eval()
    ids = prompt_ids.to(device)
    if ids.dim() == 1:
        ids = ids[None]
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    if limit:
        new_tokens = max(1, min(new_tokens, limit - ids.shape[1]))
    pad = model.config.eos_token_id if model.config.eos_token_id is not None else 0

    def run():
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                       min_new_tokens=new_tokens, do_sample=False, pad_token_id=pad)
        _sync(device)
    with few_threads(model):
        run()
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
    return ids.shape[0] * new_tokens / best


def profile_step(step_fn, steps: int = 3, row_limit: int = 10, device=None, model=None) -> str:
    """Where the time of ``step_fn()`` goes: a ``torch.profiler`` table of the operators that
    took the most time over ``steps`` calls (after one warm-up call). ``model``: the model the
    step trains (a small one then runs on one CPU thread, as in training)."""
    from torch.profiler import ProfilerActivity, profile
    device = torch.device(device or get_device())
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with few_threads(*([model] if model is not None else [])):
        step_fn()
        with profile(activities=activities) as prof:
            for _ in range(steps):
                step_fn()
            _sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=row_limit)


def save_log(log: RunLog, path) -> None:
    """Write a run log as JSON, atomically."""
    import json
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(log.to_dict(), indent=1))


def gpu_note() -> str:
    """One line for a notebook: which device runs, and what a GPU would change."""
    device = get_device()
    if device.type == "cuda":
        return f"Running on {torch.cuda.get_device_name(device)}."
    return (f"Running on the {device.type.upper()} ({os.cpu_count()} cores) at a tiny size. The real "
            "capstone run needs a GPU: on Colab choose Runtime -> Change runtime type -> T4 GPU and "
            "set COURSE_PROFILE=gpu (estimated cost in docs/benchmarks.md).")


def shipping_row(model, valid: torch.Tensor, teacher=None, log: RunLog | None = None,
                 prompt_ids: torch.Tensor | None = None, gen_tokens: int = 32,
                 price_per_gpu_hour: float = PRICE_PER_GPU_HOUR["T4"], eval_blocks: int | None = 64,
                 device=None) -> dict:
    """One row of the table a team ships with: parameters, held-out loss and perplexity,
    next-token agreement with ``teacher`` (:func:`course_utils.lm.evaluate_lm`), generation
    tokens/s, and -- from the run's ``log`` -- training tokens/s, seconds, cost at
    ``price_per_gpu_hour`` and peak memory."""
    device = torch.device(device or get_device())
    result = evaluate_lm(model, valid, teacher=teacher, max_blocks=eval_blocks, device=device)
    row = {"params": sum(p.numel() for p in model.parameters()), "loss": result["loss"],
           "perplexity": result["perplexity"]}
    if "agreement" in result:
        row["agreement"] = result["agreement"]
    if prompt_ids is not None:
        row["gen_tok_s"] = generation_speed(model, prompt_ids, gen_tokens, device=device)
    if log is not None:
        row.update(train_tok_s=tokens_per_second(log), train_s=log.train_seconds,
                   cost=run_cost(log, price_per_gpu_hour), peak_mb=log.meta.get("peak_memory_mb", float("nan")))
    model.cpu()
    return row
