"""What each lesson costs at a profile's sizes, estimated on a T4 and an H100 (issue 22).

    python tools/estimate_gpu_cost.py                 # the `gpu` profile (default)
    python tools/estimate_gpu_cost.py --profile cpu
    python tools/estimate_gpu_cost.py --markdown      # the table of docs/benchmarks.md

Nothing here needs a GPU: every model of a lesson is built at the profile's sizes on the CPU
and one step of it is measured, then multiplied by the steps the profile asks for.

Method, per run (one kind of model trained, or decoded, some number of times):
* work: ``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of one step (forward,
  loss, backward; forward only for decoding; the teacher's forward included where a lesson
  runs it live), times the number of steps;
* launches: the number of non-view aten operations of that step (each is about one kernel
  launch on a GPU), counted with a ``TorchDispatchMode``;
* time of a run = max(FLOPs / (peak x efficiency), steps x (launches x launch cost +
  per-step host cost)): a GPU overlaps compute with the host's launches, and these models are
  so small that most runs are bound by the launches, not by the FLOPs;
* peak memory of a lesson = the largest run's CUDA context + parameters, gradients and the
  two AdamW moments (16 bytes per trained parameter) + the frozen teacher (4 bytes per
  parameter) + 2 x the activations saved for backward (measured with saved-tensor hooks);
  the course trains in fp32 (no autocast), so the fp32 columns are the ones a learner gets.

The assumptions (``DEVICES``) are stated in the table's header; change them there.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from course_utils.config import PROFILES, size  # noqa: E402

GIB = 2**30
DEVICES = {
    # peak FLOP/s from the vendors' data sheets; the efficiency is an assumption for models
    # this small; launch_us / host_ms: cost per kernel launch and per optimizer step on the
    # host (data loader batch, .to(device), .item() sync).
    "T4": dict(fp32=8.1e12, fp16=65e12, eff32=0.35, eff16=0.20, launch_us=10.0, host_ms=0.5,
               memory_gib=15.0),
    "H100": dict(fp32=67e12, fp16=989e12, eff32=0.35, eff16=0.20, launch_us=5.0, host_ms=0.3,
                 memory_gib=80.0),
}
CUDA_CONTEXT_GIB = 0.4
T4_LIMIT_MIN, T4_LIMIT_GIB = 15.0, 12.0
MNIST1D_LENGTH, MNIST1D_TRAIN_FRAC = 40, 0.8


def _size(experiment, profile):
    return size(experiment, profile, smoke=False)   # the real counts, whatever COURSE_SMOKE says


class _Launches(TorchDispatchMode):
    """Counts the aten operations that launch a kernel (views and metadata ops excluded)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not getattr(func, "is_view", False) and func.__name__.split(".")[0] not in (
                "detach", "t", "lift_fresh", "_to_copy", "empty", "alias"):
            self.n += 1
        return func(*args, **(kwargs or {}))


@dataclass
class Step:
    flops: int
    launches: int
    act_bytes: int
    params: int          # trained parameters
    frozen: int = 0      # parameters of a teacher resident beside the student
    host_s: float = 0.0  # seconds per step measured on this CPU, for runs that stay on the CPU


@dataclass
class Run:
    name: str
    steps: int
    step: Step
    precision: str | None = None   # fixed by the lesson's loop (lesson 13: fp16 on a T4), else the column's


@dataclass
class Lesson:
    name: str
    runs: list[Run] = field(default_factory=list)


_MEASURED: dict = {}


def measure(key, make_model, make_batch, loss_of, teacher=None, train=True) -> Step:
    """FLOPs, launches and saved activations of one step of ``make_model()`` (cached by key)."""
    if key in _MEASURED:
        return _MEASURED[key]
    torch.manual_seed(0)
    model = make_model()
    teacher_model = teacher() if teacher else None
    params = sum(p.numel() for p in model.parameters())
    frozen = sum(p.numel() for p in teacher_model.parameters()) if teacher_model is not None else 0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True) if train else None
    batch = make_batch()
    saved = {}

    def pack(t):
        saved[(t.data_ptr(), t.shape)] = t.numel() * t.element_size()
        return t

    def one():
        with torch.no_grad():
            t_out = teacher_model(batch) if teacher_model is not None else None
        if not train:
            with torch.no_grad():
                model(batch)
            return
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = loss_of(model, batch, t_out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()  # warm-up: lazy state (AdamW moments) is created on the first step
    saved.clear()
    counter, launches = FlopCounterMode(display=False), _Launches()
    with counter, launches:
        one()
    _MEASURED[key] = Step(counter.get_total_flops(), launches.n, sum(saved.values()), params, frozen)
    return _MEASURED[key]


# ---------------------------------------------------------------------------------------
# Part I: MNIST-1D classifiers
# ---------------------------------------------------------------------------------------
def _x(batch):
    return lambda: torch.randn(batch, MNIST1D_LENGTH)


def _ce(model, x, t_out):
    return F.cross_entropy(model(x), torch.zeros(len(x), dtype=torch.long))


def _kd(model, x, t_out):
    from course_utils.losses import kd_loss
    s = model(x)
    t = t_out if t_out is not None else torch.randn_like(s)
    return kd_loss(s, t, torch.zeros(len(x), dtype=torch.long), T=4.0, alpha=0.9)


def _mlp(hidden, batch, kd=True, teacher=None):
    from course_utils.models import MLPStudent
    return measure(("mlp", str(hidden), batch, kd, teacher is not None), lambda: MLPStudent(hidden=hidden),
                   _x(batch), _kd if kd else _ce, teacher=teacher)


def _cnn(channels, batch, kd=False, teacher=None):
    from course_utils.models import ConvTeacher
    return measure(("cnn", channels, batch, kd, teacher is not None),
                   lambda: ConvTeacher(channels=channels), _x(batch), _kd if kd else _ce, teacher=teacher)


def _teacher_cnn(channels):
    from course_utils.models import ConvTeacher
    return lambda: ConvTeacher(channels=channels)


def _batches(n, batch):
    return math.ceil(n / batch)


def part1(profile) -> list[Lesson]:
    n_train = int(_size("mnist1d", profile).num_samples * MNIST1D_TRAIN_FRAC)
    T = _size("teacher_cnn", profile)
    teacher = Run(f"CNN teacher ({T.channels} ch) x {T.epochs} epochs", T.epochs * _batches(n_train, T.batch_size),
                  _cnn(T.channels, T.batch_size))
    l01 = Lesson("01 soft targets", [teacher])
    ST = _size("soft_targets", profile)
    l01.runs.append(Run("T^2 gradient table", ST.seeds * len(ST.temperatures), _mlp(64, ST.batch)))

    S, W, O = _size("student_mlp", profile), _size("kd_sweep", profile), _size("omitted_class", profile)
    nb = _batches(n_train, S.batch_size)
    l02 = Lesson("02 first distillation", [
        Run(f"scratch+KD students, short+long, x {S.seeds} seeds",
            S.seeds * 2 * (S.short_epochs + S.epochs) * nb, _mlp(S.hidden, S.batch_size)),
        Run(f"KD on the transfer set x {S.seeds} seeds", S.seeds * S.epochs * nb, _mlp(S.hidden, S.batch_size)),
        Run(f"T x alpha sweep {len(W.temperatures)}x{len(W.alphas)} x {W.seeds} seeds",
            len(W.temperatures) * len(W.alphas) * W.seeds * W.epochs * nb, _mlp(S.hidden, S.batch_size)),
        Run(f"omitted class x {O.seeds} seeds", O.seeds * O.epochs * _batches(int(n_train * 0.9), S.batch_size),
            _mlp(S.hidden, S.batch_size)),
    ])

    F_, C = _size("fidelity_students", profile), _size("capacity_gap", profile)
    nbf = _batches(n_train, F_.batch_size)
    full_methods, few_methods = 7, 2     # the failure-mode table: 7 full-length students, 2 short
    l03 = Lesson("03 what students learn", [
        Run("label-smoothed teacher", T.epochs * _batches(n_train, T.batch_size), _cnn(T.channels, T.batch_size)),
        Run(f"fidelity students (2 x {F_.seeds} seeds)", 2 * F_.seeds * F_.epochs * nbf, _mlp(F_.hidden, F_.batch_size)),
        Run(f"failure modes ({full_methods}+{few_methods} x {F_.seeds} seeds)",
            F_.seeds * (full_methods * F_.epochs + few_methods * F_.few_epochs) * nbf, _mlp(F_.hidden, F_.batch_size)),
        Run("train-mode teacher, live (batch 16)", 2 * F_.trainmode_epochs * _batches(n_train, 16),
            _mlp(F_.hidden, 16, teacher=_teacher_cnn(T.channels))),
    ])
    for ch in C.teacher_channels:
        if ch != T.channels:
            l03.runs.append(Run(f"capacity teacher {ch} ch", T.epochs * _batches(n_train, T.batch_size),
                                _cnn(ch, T.batch_size)))
    l03.runs.append(Run(f"assistant MLP-{C.assistant_hidden}", C.epochs * _batches(n_train, 128),
                        _mlp(C.assistant_hidden, 128)))
    n_teachers = len(C.teacher_channels) + 1
    for hidden in C.student_hidden:
        l03.runs.append(Run(f"capacity students MLP-{hidden} ({n_teachers} teachers + scratch) x {C.seeds} seeds",
                            (n_teachers + 1) * C.seeds * C.epochs * _batches(n_train, 128), _mlp(hidden, 128)))

    FK, FM = _size("feature_kd", profile), _size("function_matching", profile)
    nbk = _batches(n_train, FK.batch_size)
    live = _teacher_cnn(T.channels)
    l04 = Lesson("04 beyond logits", [
        Run("scratch CNN student", FK.epochs * nbk, _cnn(FK.student_channels, FK.batch_size)),
        Run(f"6 feature-KD recipes x {FK.seeds} seeds (teacher live)", 6 * FK.seeds * FK.epochs * nbk,
            _cnn(FK.student_channels, FK.batch_size, kd=True, teacher=live)),
        Run(f"function matching 3 x {FM.seeds} seeds (teacher live)", 3 * FM.seeds * FM.epochs * nbk,
            _cnn(FM.student_channels, FK.batch_size, kd=True, teacher=live)),
    ])
    return [l01, l02, l03, l04]


# ---------------------------------------------------------------------------------------
# Part II: language models
# ---------------------------------------------------------------------------------------
def _gpt(vocab, n_layer, n_embd, n_head, block):
    def make():
        from transformers import GPT2Config, GPT2LMHeadModel
        return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=block, n_embd=n_embd,
                                          n_layer=n_layer, n_head=n_head, resid_pdrop=0.0,
                                          embd_pdrop=0.0, attn_pdrop=0.0))
    return make


class _Logits(torch.nn.Module):
    """A causal LM as a function of ids returning logits (what the measuring loop calls)."""

    def __init__(self, make):
        super().__init__()
        self.lm = make()

    def forward(self, ids):
        return self.lm(input_ids=ids).logits


def _lm(key, make, batch, seq, vocab, teacher=None, train=True):
    def loss(model, ids, t_out):
        logits = model(ids)
        ce = F.cross_entropy(logits.flatten(0, 1), ids.flatten())
        if t_out is None:
            return ce
        return ce + F.kl_div(F.log_softmax(logits, -1), F.log_softmax(t_out, -1), log_target=True,
                             reduction="batchmean")
    return measure(("lm", key, batch, seq, teacher is not None, train), lambda: _Logits(make),
                   lambda: torch.randint(0, vocab, (batch, seq)), loss,
                   teacher=(lambda: _Logits(teacher)) if teacher else None, train=train)


def _decode(key, make, vocab, context):
    """One generated token: a forward pass over a (1, context) prompt, FLOPs divided by the
    context (a KV cache makes each new token cost about one position's work)."""
    step = _lm(("decode",) + key, make, 1, context, vocab, train=False)
    return Step(step.flops // context, step.launches, 0, 0, step.params)


def _host_decode(key, make, vocab, context, rows=1):
    """One generated token of ``rows`` sequences on the CPU, timed here: the course's API
    (``course_utils.api.serve``) decodes on whatever device the model is on, and
    ``load_teacher`` returns the teacher on the CPU, so the harvests of lessons 07-08 run on the
    host CPU even on a GPU machine (a Colab T4 has 2 vCPUs, like this machine)."""
    if ("host",) + key in _MEASURED:
        return _MEASURED[("host",) + key]
    import time
    model = make().eval()
    prompt = torch.randint(0, vocab, (rows, context // 2))
    with torch.no_grad():
        past = model(input_ids=prompt, use_cache=True).past_key_values
        nxt = prompt[:, -1:]
        model(input_ids=nxt, past_key_values=past, use_cache=True)
        start, n = time.perf_counter(), 5
        for _ in range(n):
            past = model(input_ids=nxt, past_key_values=past, use_cache=True).past_key_values
        per_token = (time.perf_counter() - start) / n
    step = _decode(key, make, vocab, context)
    _MEASURED[("host",) + key] = Step(step.flops * rows, step.launches, 0, 0, step.frozen, host_s=per_token)
    return _MEASURED[("host",) + key]


def part2(profile) -> list[Lesson]:
    T = _size("lm_teacher", profile)
    vocab = T.vocab_size
    teacher = _gpt(vocab, T.n_layer, T.n_embd, T.n_head, T.block_size)
    tkey = (vocab, T.n_layer, T.n_embd, T.block_size)
    gen = _size("lm_samples", profile)
    l05 = Lesson("05 tiny teacher LM", [
        Run(f"teacher GPT-2 {T.n_layer}x{T.n_embd}, {T.steps} steps of {T.batch_size}x{T.block_size}",
            T.steps, _lm(tkey, teacher, T.batch_size, T.block_size, vocab)),
        Run(f"validation ({10} evals x {T.eval_blocks} blocks)", 10 * _batches(T.eval_blocks, 16),
            _lm(tkey, teacher, 16, T.block_size, vocab, train=False)),
        Run(f"samples: 2 prompts x {len(gen.temperatures)} temperatures x {gen.max_new_tokens} tokens",
            2 * len(gen.temperatures) * gen.max_new_tokens, _decode(tkey, teacher, vocab, T.block_size // 2)),
    ])

    kd = _size("lm_kd", profile)
    student = _gpt(vocab, kd.n_layer, kd.n_embd, kd.n_head, T.block_size)
    skey = (vocab, kd.n_layer, kd.n_embd, T.block_size)
    n_methods = 4 + len(kd.top_ks)
    l06 = Lesson("06 token-level KD", [
        Run(f"{n_methods} students x {kd.seeds} seeds x {kd.steps} steps (teacher live, shared)",
            n_methods * kd.seeds * kd.steps, _lm(skey, student, kd.batch_size, T.block_size, vocab)),
        Run(f"teacher forward per step ({kd.seeds} seeds x {kd.steps})", kd.seeds * kd.steps,
            _lm(tkey, teacher, kd.batch_size, T.block_size, vocab, train=False)),
        Run(f"KDTrainer {kd.trainer_steps} steps (teacher live)", kd.trainer_steps,
            _lm(skey, student, kd.batch_size, T.block_size, vocab, teacher=teacher)),
        Run("evaluations", n_methods * kd.seeds * (kd.steps // max(1, kd.eval_every) + 1)
            * _batches(kd.eval_blocks, 16), _lm(skey, student, 16, T.block_size, vocab, train=False)),
    ])

    A = _size("api_distill", profile)
    astudent = _gpt(vocab, A.n_layer, A.n_embd, A.n_head, T.block_size)
    akey = (vocab, A.n_layer, A.n_embd, T.block_size)
    prompts = int(A.base_prompts * max(A.budget_units) * 1.5)
    seq = A.max_tokens + 16
    sft_examples = A.base_prompts * sum(A.budget_units)          # what the budgets buy, summed
    sft_steps = A.seeds * 2 * A.epochs * _batches(sft_examples, A.batch_size)
    human_steps = A.seeds * A.epochs * _batches(4 * A.base_prompts * max(A.budget_units), A.batch_size)
    l07 = Lesson("07 black-box API distillation", [
        Run(f"harvest (API, on the CPU): {prompts} + {A.base_prompts} prompts x {A.max_tokens} tokens",
            (prompts + A.base_prompts) * A.max_tokens, _host_decode(tkey, teacher, vocab, seq)),
        Run(f"SFT students: {A.seeds} seeds x {len(A.budget_units)} budgets x 2 losses",
            sft_steps, _lm(akey, astudent, A.batch_size, seq, vocab)),
        Run("human-text and white-box students", 2 * human_steps,
            _lm(akey, astudent, A.batch_size, A.eval_len, vocab, teacher=teacher)),
        Run("prompt-strategy students", A.seeds * 2 * A.epochs * _batches(A.base_prompts, A.batch_size),
            _lm(akey, astudent, A.batch_size, seq, vocab)),
    ])

    from course_utils.reasoning import char_tokenizer, prompt_of, trace
    R = _size("reasoning", profile)
    rvocab = len(char_tokenizer())
    rpos = len(prompt_of(0, 0, R.digits)) + len(trace(0, 0, R.digits)) + 2
    tr = R.teacher
    rteacher = _gpt(rvocab, tr["n_layer"], tr["n_embd"], tr["n_head"], rpos)
    rtkey = ("r", rvocab, tr["n_layer"], tr["n_embd"], rpos)
    trace_len = len(trace(0, 0, R.digits)) + 1
    l08 = Lesson("08 reasoning distillation", [
        Run(f"reasoning teacher {tr['n_layer']}x{tr['n_embd']}, {tr['steps']} steps",
            tr["steps"], _lm(rtkey, rteacher, tr["batch_size"], rpos, rvocab)),
        Run(f"harvest (API, on the CPU): {R.prompts} problems x {R.samples} samples x {trace_len} tokens",
            R.prompts * trace_len, _host_decode(rtkey, rteacher, rvocab, rpos, rows=R.samples)),
        Run("teacher check on 500 problems (greedy, batches of 64)", _batches(500, 64) * trace_len,
            _decode(rtkey, rteacher, rvocab, rpos)),
    ])
    for n_layer, n_embd in R.sizes:
        make = _gpt(rvocab, n_layer, n_embd, 4, rpos)
        key = ("r", rvocab, n_layer, n_embd, rpos)
        l08.runs.append(Run(f"students {n_layer}x{n_embd}: 3 kinds x {len(R.seeds)} seeds x {R.steps} steps",
                            3 * len(R.seeds) * R.steps, _lm(key, make, R.batch_size, rpos, rvocab)))
        l08.runs.append(Run(f"students {n_layer}x{n_embd}: test answers ({R.test} problems)",
                            3 * len(R.seeds) * _batches(R.test, 64) * trace_len, _decode(key, make, rvocab, rpos)))
    return [l05, l06, l07, l08]


# ---------------------------------------------------------------------------------------
# Part IV: the capstone (lesson 13). Its loop chooses the precision itself: fp16 + GradScaler on
# a T4 (bf16 on an H100), so its runs are costed at fp16 in every column, except the naive
# fp32 loop it is compared with. Tokens of the corpus: CHARS_PER_TOKEN characters each
# (an assumption for a byte-level BPE of 8,192 tokens on Python source).
# ---------------------------------------------------------------------------------------
CHARS_PER_TOKEN = 3.0


def part4(profile) -> list[Lesson]:
    T, S = _size("code_lm", profile), _size("capstone", profile)
    vocab, block = T.vocab_size, T.block_size
    teacher = _gpt(vocab, T.n_layer, T.n_embd, T.n_head, block)
    tkey = ("code", vocab, T.n_layer, T.n_embd, block)
    student = _gpt(vocab, S.n_layer, S.n_embd, S.n_head, block)
    skey = ("code", vocab, S.n_layer, S.n_embd, block)
    train_blocks = int(T.code_chars / CHARS_PER_TOKEN / block)
    runs = 2 * S.seeds
    evals = runs * (S.steps // max(1, S.eval_every) + 1) * _batches(T.valid_blocks or 64, 16)
    return [Lesson("13 capstone (course loop: fp16 on a T4)", [
        Run(f"code teacher GPT-2 {T.n_layer}x{T.n_embd}, {T.steps} steps of {T.batch_size}x{block}",
            T.steps, _lm(tkey, teacher, T.batch_size, block, vocab), "fp16"),
        Run(f"teacher top-{S.top_k} logits over {train_blocks:,} blocks, once", _batches(train_blocks, 32),
            _lm(tkey, teacher, 32, block, vocab, train=False), "fp16"),
        Run(f"students: scratch + distilled x {S.seeds} seeds x {S.steps} steps of {S.batch_size}x{block}",
            runs * S.steps, _lm(skey, student, S.batch_size, block, vocab), "fp16"),
        Run("the same student run under accelerate (in the notebook)", S.steps,
            _lm(skey, student, S.batch_size, block, vocab), "fp16"),
        Run("evaluations", evals, _lm(skey, student, 16, block, vocab, train=False), "fp16"),
        Run(f"benchmark, naive fp32: {S.bench_steps} steps, teacher live", S.bench_steps,
            _lm(skey, student, S.batch_size, block, vocab, teacher=teacher), "fp32"),
        Run(f"benchmark, course: {S.bench_steps} steps", S.bench_steps,
            _lm(skey, student, S.batch_size, block, vocab), "fp16"),
        Run(f"generation speed: {S.gen_tokens} tokens x 3 runs x {runs} students",
            3 * S.gen_tokens * runs, _decode(skey, student, vocab, block // 2), "fp16"),
        Run(f"teacher generation speed: {S.gen_tokens} tokens x 3 runs", 3 * S.gen_tokens,
            _decode(tkey, teacher, vocab, block // 2), "fp16"),
    ])]


# ---------------------------------------------------------------------------------------
def run_seconds(run: Run, device: dict, precision: str = "fp32") -> float:
    if run.step.host_s:                       # stays on the host CPU, whatever the GPU
        return run.steps * run.step.host_s
    precision = run.precision or precision
    peak, eff = (device["fp32"], device["eff32"]) if precision == "fp32" else (device["fp16"], device["eff16"])
    compute = run.step.flops * run.steps / (peak * eff)
    host = run.steps * (run.step.launches * device["launch_us"] * 1e-6 + device["host_ms"] * 1e-3)
    return max(compute, host)


def run_gib(run: Run) -> float:
    s = run.step
    return CUDA_CONTEXT_GIB + (16 * s.params + 4 * s.frozen + 2 * s.act_bytes) / GIB


def estimate(profile: str = "gpu") -> list[dict]:
    rows = []
    for lesson in part1(profile) + part2(profile) + part4(profile):
        row = {"lesson": lesson.name,
               "TFLOP": sum(r.step.flops * r.steps for r in lesson.runs) / 1e12,
               "steps": sum(r.steps for r in lesson.runs),
               "peak_gib": max(run_gib(r) for r in lesson.runs),
               "runs": lesson.runs}
        for dev_name, dev in DEVICES.items():
            for precision in ("fp32", "fp16"):
                row[f"{dev_name}_{precision}_min"] = sum(run_seconds(r, dev, precision) for r in lesson.runs) / 60
        rows.append(row)
    return rows


def assumptions() -> str:
    lines = []
    for name, d in DEVICES.items():
        lines.append(f"{name}: peak {d['fp32'] / 1e12:g} TFLOPS fp32 / {d['fp16'] / 1e12:g} TFLOPS fp16 "
                     f"tensor, assumed {d['eff32']:.0%} / {d['eff16']:.0%} of it; {d['launch_us']:g} us per "
                     f"kernel launch, {d['host_ms']:g} ms host time per step")
    lines.append(f"memory: {CUDA_CONTEXT_GIB} GiB CUDA context + 16 B per trained parameter + 4 B per "
                 "frozen teacher parameter + 2 x saved activations (largest run of the lesson)")
    return "\n".join(lines)


def table(rows, markdown: bool = False) -> str:
    head = ["lesson", "TFLOP", "steps", "T4 fp32 min", "T4 fp16 min", "H100 fp32 min", "H100 fp16 min",
            "peak GiB"]
    body = [[r["lesson"], f"{r['TFLOP']:.2f}", f"{r['steps']:,}", f"{r['T4_fp32_min']:.2f}",
             f"{r['T4_fp16_min']:.2f}", f"{r['H100_fp32_min']:.2f}", f"{r['H100_fp16_min']:.2f}",
             f"{r['peak_gib']:.2f}"] for r in rows]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*line) for line in [head] + body)


def over_budget(rows) -> list[str]:
    return [f"{r['lesson']}: {r['T4_fp32_min']:.1f} min, {r['peak_gib']:.2f} GiB on a T4"
            for r in rows if r["T4_fp32_min"] > T4_LIMIT_MIN or r["peak_gib"] > T4_LIMIT_GIB]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="gpu", choices=PROFILES)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--runs", action="store_true", help="also list every run of each lesson")
    args = parser.parse_args(argv)
    os.environ.pop("COURSE_SMOKE", None)
    torch.set_num_threads(1)
    rows = estimate(args.profile)
    print(f"Estimated cost per lesson, profile {args.profile!r} (tools/estimate_gpu_cost.py)")
    print(assumptions())
    print(table(rows, args.markdown))
    if args.runs:
        for r in rows:
            print(f"\n{r['lesson']}")
            for run in r["runs"]:
                print(f"  {run.name}: {run.steps:,} steps, {run.step.flops / 1e9:.3f} GFLOP and "
                      f"{run.step.launches} launches per step, T4 fp32 "
                      f"{run_seconds(run, DEVICES['T4']) / 60:.2f} min")
    problems = over_budget(rows)
    if problems:
        print(f"\nOver the T4 budget ({T4_LIMIT_MIN:g} min, {T4_LIMIT_GIB:g} GiB): " + "; ".join(problems))
        return 1
    print(f"\nEvery lesson is within the T4 budget ({T4_LIMIT_MIN:g} min, {T4_LIMIT_GIB:g} GiB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
