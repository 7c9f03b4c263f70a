"""The `gpu` profile's safety rails (issue 22): the default profile on a CUDA machine, the
shapes-only smoke switch, the validation of impossible sizes, and the device paths tested
with CUDA forced on a machine that has none."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from course_utils import config
from course_utils.config import SIZES, SMOKE_COUNTS, SizeError, choose_profile, size

ROOT = Path(__file__).resolve().parent.parent


# --- the default: cpu sizes on a CUDA machine until a gpu run is recorded ---------------
def test_cuda_machine_runs_cpu_sizes_until_the_gpu_profile_is_verified():
    profile, why = choose_profile("", cuda=True, verified=False)
    assert profile == "cpu"
    assert "COURSE_PROFILE=gpu" in why and "docs/benchmarks.md" in why
    assert choose_profile("", cuda=True, verified=True)[0] == "gpu"
    assert choose_profile(None, cuda=False, verified=True) == ("cpu", "no CUDA GPU")
    assert choose_profile("GPU", cuda=False, verified=False)[0] == "gpu"     # opting in always works
    assert choose_profile(" ci ", cuda=True, verified=True)[0] == "ci"
    profile, why = choose_profile("huge", cuda=True, verified=True)
    assert profile == "cpu" and "not one of" in why


def test_detection_with_cuda_forced(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(config, "GPU_PROFILE_VERIFIED", False)
    assert config._detect_profile() == "cpu"
    monkeypatch.setattr(config, "GPU_PROFILE_VERIFIED", True)
    assert config._detect_profile() == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config._detect_profile() == "cpu"


def test_verified_flag_matches_the_recorded_run():
    """GPU_PROFILE_VERIFIED goes True only in the change that records a measured gpu run."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    recorded = "## `gpu` profile, measured" in text
    assert config.GPU_PROFILE_VERIFIED == recorded, (
        "Set GPU_PROFILE_VERIFIED = True together with a '## `gpu` profile, measured' section of "
        "docs/benchmarks.md that records every lesson's run on a named GPU (and not before).")


# --- the smoke switch: shapes kept, counts cut -------------------------------------------
def _keys(values, prefix=""):
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _keys(value, prefix + key + ".")
        else:
            yield prefix + key, key, value


def test_smoke_keeps_every_shape_and_cuts_only_counts():
    used = set()
    for experiment in SIZES:
        full = {path: (key, value) for path, key, value in _keys(SIZES[experiment]["gpu"])}
        cut = {path: value for path, _, value in _keys(vars(size(experiment, "gpu", smoke=True)))}
        assert set(cut) == set(full), experiment
        for path, (key, value) in full.items():
            if key in SMOKE_COUNTS:
                used.add(key)
                if key == "harvest_sizes":           # also kept below the cut harvest
                    first = value[:SMOKE_COUNTS[key]]
                    assert len(cut[path]) == len(first) and all(
                        1 <= c <= v for c, v in zip(cut[path], first)), (experiment, path)
                elif isinstance(value, list):
                    assert cut[path] == value[:SMOKE_COUNTS[key]] and cut[path], (experiment, path)
                elif value is None:                      # "all of them"
                    assert cut[path] == SMOKE_COUNTS[key], (experiment, path)
                else:
                    assert cut[path] == min(value, SMOKE_COUNTS[key]) >= 1, (experiment, path)
            else:
                assert cut[path] == value, f"{experiment}.{path} is a shape: smoke mode must keep it"
    assert used == set(SMOKE_COUNTS), f"SMOKE_COUNTS names no key of SIZES: {set(SMOKE_COUNTS) - used}"


def test_smoke_switch_is_read_from_the_environment():
    code = ("from course_utils.config import SMOKE, PROFILE, size; "
            "print(SMOKE, PROFILE, size('lm_teacher').steps, size('lm_teacher').n_embd)")
    env = {**os.environ, "COURSE_PROFILE": "gpu", "COURSE_SMOKE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    gpu = SIZES["lm_teacher"]["gpu"]
    assert out == ["True", "gpu", str(SMOKE_COUNTS["steps"]), str(gpu["n_embd"])]


# --- impossible sizes fail with a clear message --------------------------------------------
@pytest.mark.parametrize("profile", config.PROFILES)
def test_every_profile_is_consistent(profile):
    assert config.size_problems(profile) == []


def test_generation_longer_than_the_block_size_fails_the_run(monkeypatch):
    bad = {**SIZES["lm_samples"]["gpu"], "max_new_tokens": 300}
    monkeypatch.setitem(SIZES["lm_samples"], "gpu", bad)
    with pytest.raises(SizeError, match=r"lm_samples.max_new_tokens=300 .*block_size=256"):
        size("lm_samples", "gpu")
    with pytest.raises(SizeError, match="config.py"):       # any lookup in that profile fails
        size("teacher_cnn", "gpu", smoke=True)
    assert size("lm_samples", "cpu").max_new_tokens == SIZES["lm_samples"]["cpu"]["max_new_tokens"]


def test_generation_too_long_fails_the_smoke_run_of_a_notebook_cell(monkeypatch):
    """What a notebook's first size() call does under COURSE_PROFILE=gpu COURSE_SMOKE=1."""
    code = ("from course_utils import config; config.SIZES['api_distill']['gpu']['max_tokens'] = 400; "
            "config.size('api_distill')")
    env = {**os.environ, "COURSE_PROFILE": "gpu", "COURSE_SMOKE": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "SizeError" in run.stderr and "api_distill.max_tokens=400" in run.stderr


def test_other_impossible_sizes(monkeypatch):
    monkeypatch.setitem(SIZES["lm_kd"], "gpu", {**SIZES["lm_kd"]["gpu"], "top_ks": [1, 5, 5000]})
    monkeypatch.setitem(SIZES["api_distill"], "gpu", {**SIZES["api_distill"]["gpu"], "top_logprobs": 50})
    problems = config.size_problems("gpu")
    assert any("lm_kd.top_ks" in p and "vocab_size=4096" in p for p in problems)
    assert any("api_distill.top_logprobs=50" in p for p in problems)
    monkeypatch.setitem(SIZES["lm_kd"], "gpu", {**SIZES["lm_kd"]["gpu"], "top_ks": [1], "n_head": 5})
    assert any("lm_kd.n_embd=192 is not divisible by n_head=5" in p for p in config.size_problems("gpu"))


# --- device paths with CUDA forced ------------------------------------------------------
def test_get_device_chooses_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device() == torch.device("cuda")
    assert config.get_device("cpu") == torch.device("cpu")       # tiny models: the CPU on request
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
        assert config.get_device() == torch.device("mps")
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.get_device() == torch.device("cpu")


def test_seed_everything_seeds_cuda_when_available(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", calls.append)
    config.seed_everything(7)
    assert calls and set(calls) == {7}     # (torch.manual_seed seeds CUDA too)


def test_few_threads_leaves_models_on_an_accelerator_alone(monkeypatch):
    """A model off the CPU (here on the `meta` device, standing for a GPU) keeps torch's threads."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    on_gpu = torch.nn.Linear(4, 4, device="meta")
    with config.few_threads(on_gpu):
        assert torch.get_num_threads() == before
    on_cpu = torch.nn.Linear(4, 4)
    with config.few_threads(on_cpu):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_doctor_on_a_cuda_machine_says_which_profile_and_why(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(name="Tesla T4", total_memory=15 * 2**30))
    profile, why = choose_profile("", cuda=True)
    monkeypatch.setattr(config, "PROFILE", profile)
    monkeypatch.setattr(config, "PROFILE_REASON", why)
    report = config.doctor(check_network=False)
    assert report["device"] == "cuda" and report["gpu"] == "Tesla T4, 15.0 GiB"
    assert report["profile"].startswith("cpu (CUDA is available") and "COURSE_PROFILE=gpu" in report["profile"]
    assert "COURSE_PROFILE=gpu" in capsys.readouterr().out


# --- found by the smoke run --------------------------------------------------------------
def test_reasoning_students_without_verified_traces_do_not_stop_the_lesson():
    """A barely trained teacher (smoke counts) verifies nothing: those students get NaN."""
    from course_utils import reasoning as R
    tok = R.char_tokenizer()
    rows = [{"prompt": R.prompt_of(12, 34, 2), "completion": R.trace(12, 35, 2)}]   # a wrong trace
    table = R.train_students(rows, tok, sizes=[[1, 8]], seeds=[0], test_pairs=[(1, 2)], digits=2,
                             steps=1, batch_size=2, progress=False)
    by_kind = table.set_index("kind")
    assert by_kind.loc["verified", "examples"] == 0 and by_kind["accuracy"].isna()["verified"]
    assert by_kind.loc["traces", "examples"] == 1 and not by_kind["accuracy"].isna()["traces"]


def test_valid_blocks_is_a_count_outside_the_teachers_cache_key():
    from course_utils.teachers import _cache_config, lm_data
    full = lm_data(profile="ci")
    cut = lm_data(profile="ci", valid_blocks=2)
    assert len(cut.valid) == 2 < len(full.valid) and len(cut.train) == len(full.train)
    cfg = dict(SIZES["lm_teacher"]["ci"])
    assert _cache_config("t", cfg, full.corpus) == _cache_config("t", {**cfg, "valid_blocks": 2}, full.corpus)
