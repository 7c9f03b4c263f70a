"""Naive loop against the course's loop, in tokens per second, on whatever device this machine has
(lesson 13; not a timed test: the numbers belong in docs/benchmarks.md with the device named).

    python tools/benchmark_throughput.py                    # the profile's sizes (COURSE_PROFILE)
    python tools/benchmark_throughput.py --profile gpu --steps 50
    python tools/benchmark_throughput.py --profile ci --steps 3   # a smoke run, seconds

Two comparisons, each the same model on the same batches for ``--steps`` optimizer steps:

* **distilling the student** (the capstone's run): naive = fp32, eager, plain AdamW, the teacher
  run on every batch; course = :func:`course_utils.fast_train.choose_recipe` (mixed precision by
  hardware, compile on CUDA, fused AdamW on CUDA) reading the teacher's cached top-k logits;
* **training the teacher** (next-token cross-entropy, a model ten or more times larger): naive
  fp32 eager against the course's recipe, and, with ``--all-precisions``, each autocast dtype
  the device offers (to see what mixed precision alone buys here).

Throughput leaves out the first step (warm-up, compilation). Models are freshly initialised
(speed does not depend on the weights) and the tokens are random, so nothing is trained or
downloaded first.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from course_utils.config import PROFILE, PROFILES, get_device, size  # noqa: E402
from course_utils.fast_train import (choose_recipe, compute_topk, naive_recipe,  # noqa: E402
                                     tokens_per_second, train_student)


def _gpt2(vocab, n_layer, n_embd, n_head, block, seed=0):
    from transformers import AutoModelForCausalLM

    from course_utils.teachers import build_config
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(build_config("gpt2", vocab, n_layer, n_embd, n_head, block))


def measure(profile: str, steps: int, device, all_precisions: bool = False, compile_cpu: bool = False):
    """Rows ``{"run", "loop", "tokens/s", "x naive"}`` of both comparisons."""
    T, S = size("code_lm", profile), size("capstone", profile)
    vocab, block = T.vocab_size, T.block_size
    g = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, vocab, (max(4 * S.batch_size, 64), block), generator=g)
    teacher = _gpt2(vocab, T.n_layer, T.n_embd, T.n_head, block, seed=1).eval()
    course = choose_recipe(device, compile=True if compile_cpu else None)
    rows = []

    def run(label, what, recipe, make, batch, **kw):
        log = train_student(make(), blocks, steps + 1, batch, 1e-3, recipe=recipe, device=device,
                            label=f"{what}: {label}", **kw)
        rows.append({"run": what, "loop": label, "recipe": recipe.describe(), "tokens/s": tokens_per_second(log)})
        return rows[-1]["tokens/s"]

    student = lambda: _gpt2(vocab, S.n_layer, S.n_embd, S.n_head, block)  # noqa: E731
    topk = compute_topk(teacher, blocks, S.top_k, device=device, dtype=course.dtype, progress=False)
    kd = dict(teacher=teacher, topk=topk, alpha=S.alpha, T=S.T, k=S.top_k)
    base = run("naive", "distil the student", naive_recipe(), student, S.batch_size, **kd)
    run("course", "distil the student", course, student, S.batch_size, **kd)
    live_course = replace(course, teacher="live", name="course, teacher live")
    run("course, teacher live", "distil the student", live_course, student, S.batch_size, **kd)
    for r in rows:
        r["x naive"] = r["tokens/s"] / base

    make_teacher = lambda: _gpt2(vocab, T.n_layer, T.n_embd, T.n_head, block)  # noqa: E731
    first = len(rows)
    base = run("naive", "train the teacher", replace(naive_recipe(), teacher="cached"), make_teacher, T.batch_size)
    run("course", "train the teacher", course, make_teacher, T.batch_size)
    if all_precisions:
        dtypes = [torch.bfloat16] + ([torch.float16] if device.type == "cuda" else [])
        for dtype in dtypes:
            name = {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
            recipe = replace(course, name=f"course, {name}", dtype=dtype, scaler=dtype == torch.float16)
            run(f"course, {name}", "train the teacher", recipe, make_teacher, T.batch_size)
    for r in rows[first:]:
        r["x naive"] = r["tokens/s"] / base
    return rows


def device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default=PROFILE, choices=PROFILES)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop (after 1 warm-up)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--all-precisions", action="store_true", help="also time each autocast dtype")
    parser.add_argument("--compile-cpu", action="store_true", help="torch.compile on a CPU too")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    device = get_device(args.device)
    import transformers
    transformers.logging.set_verbosity_error()
    rows = measure(args.profile, args.steps, device, args.all_precisions, args.compile_cpu)
    print(f"Throughput, profile {args.profile!r}, {args.steps} timed steps per loop, on {device_name(device)}")
    width = max(len(r["loop"]) for r in rows)
    for r in rows:
        print(f"  {r['run']:<20} {r['loop']:<{width}}  {r['tokens/s']:>12,.0f} tokens/s  x{r['x naive']:.2f}"
              f"   [{r['recipe']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
