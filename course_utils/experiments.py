"""Shared experiment pieces: the cached MNIST-1D teacher and a multi-seed runner.

Lessons 01-04 all distil from the same teacher. It is trained once per profile (a few
seconds in ``ci``, under a minute in ``cpu``), saved atomically under the cache folder, and
loaded back by every later notebook.
"""
from __future__ import annotations

import hashlib
import json
import time

import torch
from tqdm.auto import tqdm

from .config import cache_dir, seed_everything, size
from .data import Split, load_mnist1d
from .io import atomic_torch_save
from .models import ConvTeacher
from .train import evaluate, fit


def mnist1d_teacher(data: Split | None = None, seed: int = 0, retrain: bool = False,
                    progress: bool = True, **overrides):
    """The 1D-CNN teacher trained on MNIST-1D with the profile's sizes, cached on disk.

    Returns ``(teacher, info)`` where ``info`` has the test accuracy, parameter count,
    whether it came from the cache and how long training took. ``overrides`` change the
    profile's sizes (e.g. ``channels=16`` for a smaller teacher, ``label_smoothing=0.1``).
    """
    data = data or load_mnist1d()
    cfg = {**vars(size("teacher_cnn")), **overrides}
    label_smoothing = cfg.pop("label_smoothing", 0.0)
    key_src = json.dumps({"cfg": cfg, "ls": label_smoothing, "seed": seed,
                          "n": len(data.x_train), "x0": float(data.x_train[:50].sum())}, sort_keys=True)
    key = hashlib.sha1(key_src.encode()).hexdigest()[:12]
    path = cache_dir() / "teachers" / f"mnist1d-cnn-{key}.pt"
    teacher = ConvTeacher(length=data.x_train.shape[1], num_classes=data.num_classes,
                          channels=cfg["channels"])
    info = {"path": str(path), "from_cache": False, "seconds": 0.0}
    if path.exists() and not retrain:
        try:
            teacher.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            info["from_cache"] = True
        except Exception:  # a damaged cache file is retrained, not a crash
            info["from_cache"] = False
    if not info["from_cache"]:
        seed_everything(seed)
        start = time.perf_counter()
        fit(teacher, (data.x_train, data.y_train), epochs=cfg["epochs"], lr=cfg["lr"],
            batch_size=cfg["batch_size"], seed=seed, label_smoothing=label_smoothing,
            desc="teacher", progress=progress)
        info["seconds"] = time.perf_counter() - start
        atomic_torch_save(teacher.state_dict(), path)
    teacher.cpu().eval()
    info["accuracy"] = evaluate(teacher, (data.x_test, data.y_test))["accuracy"]
    info["params"] = sum(p.numel() for p in teacher.parameters())
    return teacher, info


def run_seeds(run, seeds, desc: str = "seeds", progress: bool = True) -> dict[str, list]:
    """Call ``run(seed)`` for each seed; it returns ``{metric_or_method: value}``.

    Returns ``{key: [value per seed]}``, ready for ``stats.summarize`` or
    ``plotting.plot_seed_spread``.
    """
    results: dict[str, list] = {}
    for seed in tqdm(list(seeds), desc=desc, disable=not progress, leave=False):
        for key, value in run(seed).items():
            results.setdefault(key, []).append(value)
    return results


def run_table(methods: dict, seeds, desc: str = "runs", progress: bool = True):
    """Run every method on every seed and return a *tidy* table (one row per measurement).

    ``methods`` maps a method's name to ``run(seed)``, which returns ``{metric: value}`` (or a
    single number, stored as metric ``"accuracy"``). The result is a pandas DataFrame with
    columns ``method, seed, metric, value``; ``stats.summarize_table`` turns it into mean ± std.
    Seeds are the outer loop, so every method sees seed 0 before any sees seed 1 (a run
    stopped early still holds paired results).
    """
    import pandas as pd
    if not isinstance(methods, dict) or not methods:
        raise ValueError("`methods` should be a non-empty dict {name: run(seed) -> {metric: value}}.")
    for name, run in methods.items():
        if not callable(run):
            raise TypeError(f"methods[{name!r}] should be a function run(seed), not {type(run).__name__}.")
    seeds = list(seeds)
    rows = []
    bar = tqdm(total=len(seeds) * len(methods), desc=desc, disable=not progress, leave=False)
    for seed in seeds:
        for name, run in methods.items():
            bar.set_postfix_str(f"{name}, seed {seed}")
            out = run(seed)
            if not isinstance(out, dict):
                out = {"accuracy": out}
            for metric, value in out.items():
                rows.append({"method": name, "seed": seed, "metric": metric, "value": float(value)})
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=["method", "seed", "metric", "value"])
