"""The capstone's training as a script on an existing engine, Hugging Face ``accelerate`` (lesson 13).

The same run on one CPU, one GPU, several GPUs or several machines -- only the launcher changes::

    python -m course_utils.capstone_run prepare --config run.toml     # once: data (+ teacher top-k)
    accelerate launch -m course_utils.capstone_run train --config run.toml               # 1 device
    accelerate launch --num_processes 4 -m course_utils.capstone_run train --config run.toml  # DDP
    accelerate launch --num_machines 2 --machine_rank R --main_process_ip HOST \\
        --num_processes 16 -m course_utils.capstone_run train --config run.toml       # 2 nodes

Everything about a run is in one TOML file (:func:`load_config`; an example is
:data:`EXAMPLE_CONFIG`): the data file, the student's shape, the global batch, the steps, the
precision (``auto`` = :func:`course_utils.fast_train.choose_recipe`), distillation from the
teacher's cached top-k logits, where checkpoints go. Data-parallel training (DDP): each of the
``N`` processes takes ``global_batch / N`` rows of every step's batch (the same global batch as
one process), gradients are averaged across processes, and the logged loss is the mean over
all of them -- so the loss curve is the single-process curve (the tests check it with two CPU
processes on the gloo backend). The checkpoint (model, optimizer, schedule, step, log) is
written atomically (:func:`course_utils.io.save_dir_atomically`) every ``checkpoint_every``
steps; ``train`` resumes from it and continues the same curve.

The next step for models that no longer fit one GPU is FSDP (parameters, gradients and
optimizer state sharded across the GPUs): ``accelerate config`` -> FSDP, or
``accelerate launch --use_fsdp ...``; the loop below does not change.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

EXAMPLE_CONFIG = """\
# One capstone run. Paths are relative to this file.
[data]
blocks = "data.pt"            # written by `prepare`: {"train": LongTensor, "valid": ..., "vocab_size": int}
profile = "cpu"              # sizes of the data for `prepare` (size("code_lm"))

[model]                      # the student (a GPT-2)
n_layer = 2
n_embd = 32
n_head = 2

[train]
steps = 300
global_batch = 16            # rows per optimizer step, over all processes
lr = 3e-3
seed = 0
precision = "auto"           # auto | fp32 | bf16 | fp16

[kd]                         # distil from the teacher's cached top-k logits (set alpha = 0 for none)
alpha = 0.5
T = 1.0
top_k = 16

[run]
out = "run"                  # checkpoint and log
checkpoint_every = 100
resume = true
"""


class ConfigError(ValueError):
    """A run's config that cannot work, with what to change."""


DEFAULTS = {
    "data": {"blocks": "data.pt", "profile": None},
    "model": {"n_layer": 2, "n_embd": 32, "n_head": 2},
    "train": {"steps": 100, "global_batch": 16, "lr": 3e-3, "seed": 0, "precision": "auto",
              "weight_decay": 0.01},
    "kd": {"alpha": 0.0, "T": 1.0, "top_k": 16},
    "run": {"out": "run", "checkpoint_every": 0, "resume": True, "stop_after": None},
}


def _toml():
    try:
        import tomllib            # Python 3.11+
    except ModuleNotFoundError:   # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("Reading a TOML config needs Python 3.11+, or `pip install tomli` "
                              "on Python 3.10.") from None
    return tomllib


def load_config(path) -> dict:
    """Read a run's TOML file, fill in defaults, resolve paths relative to it, and check it."""
    tomllib = _toml()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No config file at {path}. Start from course_utils.capstone_run.EXAMPLE_CONFIG.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return make_config(raw, base=path.parent)


def make_config(raw: dict, base=".") -> dict:
    """A full config from a (partial) dict, paths resolved against ``base``."""
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"Unknown section(s) {sorted(unknown)}; the sections are {list(DEFAULTS)}.")
    cfg = {section: {**values, **raw.get(section, {})} for section, values in DEFAULTS.items()}
    for section, values in raw.items():
        extra = set(values) - set(DEFAULTS[section])
        if extra:
            raise ConfigError(f"Unknown key(s) {sorted(extra)} in [{section}]; it takes {list(DEFAULTS[section])}.")
    base = Path(base)
    cfg["data"]["blocks"] = str(base / cfg["data"]["blocks"])
    cfg["run"]["out"] = str(base / cfg["run"]["out"])
    t, m = cfg["train"], cfg["model"]
    if t["precision"] not in ("auto", "fp32", "bf16", "fp16"):
        raise ConfigError(f"[train] precision must be auto, fp32, bf16 or fp16, not {t['precision']!r}.")
    if m["n_embd"] % m["n_head"]:
        raise ConfigError(f"[model] n_embd={m['n_embd']} is not divisible by n_head={m['n_head']}.")
    for key in ("steps", "global_batch"):
        if not (isinstance(t[key], int) and t[key] >= 1):
            raise ConfigError(f"[train] {key} must be a positive integer, not {t[key]!r}.")
    return cfg


def prepare(cfg: dict, teacher=None, data=None, topk=None, progress: bool = True) -> Path:
    """Write the run's data file: the capstone's packed train/held-out blocks (profile
    ``[data] profile``) and, when ``[kd] alpha > 0``, the course teacher's top-k logits.
    A notebook that already holds them passes ``data`` (from ``code_data``) and ``topk``."""
    from .code_corpus import code_data
    from .fast_train import compute_topk
    from .io import atomic_path
    distil = cfg["kd"]["alpha"] > 0
    if data is None:
        if distil and teacher is None and topk is None:
            from .teachers import load_code_teacher
            teacher, data = load_code_teacher(profile=cfg["data"]["profile"], progress=progress)
        else:
            data = code_data(cfg["data"]["profile"])
    out = {"train": data.train, "valid": data.valid, "vocab_size": len(data.tokenizer)}
    if distil:
        if topk is None:
            if teacher is None:
                raise ConfigError("[kd] alpha > 0 needs the teacher's top-k logits: pass teacher=... or topk=... .")
            topk = compute_topk(teacher, data.train, cfg["kd"]["top_k"], progress=progress)
        if topk.indices.shape[-1] < cfg["kd"]["top_k"]:
            raise ConfigError(f"[kd] top_k={cfg['kd']['top_k']} but the cached logits keep only "
                              f"{topk.indices.shape[-1]} per position.")
        out.update(topk_indices=topk.indices, topk_values=topk.values)
    path = Path(cfg["data"]["blocks"])
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(out, tmp)
    return path


def _mixed_precision(cfg, device) -> str:
    from .fast_train import choose_recipe
    wanted = cfg["train"]["precision"]
    if wanted == "auto":
        dtype = choose_recipe(device).dtype
        return {None: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    return {"fp32": "no"}.get(wanted, wanted)


def _checkpoint_dir(cfg) -> Path:
    return Path(cfg["run"]["out"]) / "checkpoint"


def train(cfg: dict, progress: bool = True) -> dict:
    """Run (or resume) the training the config describes, in this process or under
    ``accelerate launch``. Returns (on every process) the log: ``{"steps": [{"step", "loss",
    "tokens", "seconds"}...], "evals": [...], "meta": {...}}``; the main process also writes it
    to ``out/log.json``.

    Taught in lesson 13.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from .config import few_threads
    from .io import atomic_write_json, save_dir_atomically
    from .lm import batch_order, block_logits, evaluate_lm, make_optimizer
    from .fast_train import TopK, topk_kd_loss
    from .teachers import build_config

    accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                              mixed_precision=_mixed_precision(cfg, "cuda" if torch.cuda.is_available() else "cpu"))
    rank, world = accelerator.process_index, accelerator.num_processes
    t, m, kd, run = cfg["train"], cfg["model"], cfg["kd"], cfg["run"]
    if t["global_batch"] % world:
        raise ConfigError(f"[train] global_batch={t['global_batch']} cannot be split over {world} "
                          "processes: make it a multiple of the number of processes.")
    data_path = Path(cfg["data"]["blocks"])
    if not data_path.is_file():
        raise ConfigError(f"No data file {data_path}: run `python -m course_utils.capstone_run prepare "
                          "--config ...` first.")
    data = torch.load(data_path, map_location="cpu", weights_only=True)
    blocks = data["train"]
    topk = TopK(data["topk_indices"], data["topk_values"]) if kd["alpha"] > 0 else None
    if kd["alpha"] > 0 and "topk_indices" not in data:
        raise ConfigError(f"[kd] alpha > 0 but {data_path} holds no teacher top-k logits: prepare it "
                          "with alpha > 0, or set alpha = 0.")

    torch.manual_seed(t["seed"])
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_config(build_config("gpt2", data["vocab_size"], m["n_layer"], m["n_embd"],
                                                          m["n_head"], blocks.shape[1]))
    optimizer, scheduler = make_optimizer(model, t["lr"], t["steps"], t["weight_decay"],
                                          fused=accelerator.device.type == "cuda")
    log = {"steps": [], "evals": [], "meta": {"world": world, "device": str(accelerator.device),
                                              "mixed_precision": accelerator.mixed_precision,
                                              "params": sum(p.numel() for p in model.parameters())}}
    start_step = 0
    ckpt = _checkpoint_dir(cfg)
    if run["resume"] and (ckpt / "state.pt").is_file():
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step, log = state["step"], state["log"]
        torch.set_rng_state(state["rng"])
    model, optimizer = accelerator.prepare(model, optimizer)
    order = batch_order(len(blocks), t["steps"], t["global_batch"], t["seed"])
    per_rank = t["global_batch"] // world
    stop = min(t["steps"], run["stop_after"] or t["steps"])
    bar = tqdm(range(start_step + 1, stop + 1), desc=f"train x{world}", leave=False,
               disable=not (progress and accelerator.is_main_process))
    model.train()
    with few_threads(model):
        for step in bar:
            began = time.perf_counter()
            rows = order[step - 1][rank * per_rank:(rank + 1) * per_rank]
            ids = blocks[rows].to(accelerator.device)
            with accelerator.autocast():
                if topk is not None:
                    t_idx, t_val = topk[rows]
                    loss = topk_kd_loss(block_logits(model, ids), ids,
                                   (t_idx.to(ids.device), t_val.to(ids.device)), kd["alpha"], kd["T"], kd["top_k"])
                else:
                    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            mean_loss = accelerator.reduce(loss.detach().float(), reduction="mean").item()
            log["steps"].append({"step": step, "loss": mean_loss, "tokens": ids.numel() * world,
                                 "seconds": time.perf_counter() - began})
            bar.set_postfix(loss=f"{mean_loss:.3f}")
            if run["checkpoint_every"] and step % run["checkpoint_every"] == 0 and step < t["steps"]:
                _save_checkpoint(accelerator, model, optimizer, scheduler, step, log, ckpt, save_dir_atomically)
    bar.close()
    if stop == t["steps"] and accelerator.is_main_process and "valid" in data:
        result = evaluate_lm(accelerator.unwrap_model(model), data["valid"], max_blocks=64)
        log["evals"].append({"step": stop, "loss": result["loss"]})
    if accelerator.is_main_process:
        atomic_write_json(Path(run["out"]) / "log.json", log)
    accelerator.wait_for_everyone()
    return log


def _save_checkpoint(accelerator, model, optimizer, scheduler, step, log, ckpt, save_dir_atomically):
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"model": accelerator.unwrap_model(model).state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "step": step, "log": json.loads(json.dumps(log)),
                 "rng": torch.get_rng_state()}
        save_dir_atomically(ckpt, lambda tmp: torch.save(state, Path(tmp) / "state.pt"))
    accelerator.wait_for_everyone()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.capstone_run",
                                     description="The capstone's training run (lesson 13).")
    parser.add_argument("command", choices=["prepare", "train", "example"],
                        help="prepare: write the data file; train: run (under accelerate launch "
                             "for several processes); example: print an example config")
    parser.add_argument("--config", help="the run's TOML file")
    args = parser.parse_args(argv)
    if args.command == "example":
        print(EXAMPLE_CONFIG, end="")
        return 0
    if not args.config:
        parser.error("--config is required")
    try:
        cfg = load_config(args.config)
        if args.command == "prepare":
            print(f"wrote {prepare(cfg)}")
        else:
            log = train(cfg)
            if log["steps"]:
                print(f"step {log['steps'][-1]['step']}: loss {log['steps'][-1]['loss']:.4f}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
