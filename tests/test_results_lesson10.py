"""Results test of lesson 10: the watermark is detected, radioactivity tests are valid, and the
100%-watermarked student is caught.

Marked slow, it runs at the current profile's size: `ci` in `make test` (where only the claims
that hold at any size are asserted: detection of the teacher's texts, calibration, clean
students not flagged), `cpu` in `make test-slow` (all of them). It uses the lesson's own cache:
the harvest folder and the students are shared with the notebook.
"""
import numpy as np
import pytest
import torch
from scipy.stats import binom

from course_utils import radioactivity as R
from course_utils.config import PROFILE, size
from course_utils.harvest import random_snippets
from course_utils.teachers import lm_data, load_teacher
from course_utils.watermark import Watermark, score_ids, watermarked_generate

KEY = 20250129   # the lesson's key


def _allowed(n):
    """How many p < 0.01 among n null tests chance allows (the 99.9% quantile)."""
    return int(binom.ppf(0.999, n, 0.01))


@pytest.fixture(scope="module")
def setting():
    teacher, tok = load_teacher("course-gpt2", profile=PROFILE, progress=False)
    data = lm_data(tok, profile=PROFILE)
    W, S = size("watermark"), size("radioactivity")
    wm = Watermark(teacher.config.vocab_size, key=KEY, gamma=W.gamma, delta=W.delta)
    return teacher, tok, data, W, S, wm


@pytest.mark.slow
def test_watermarked_teacher_texts_are_detected(setting):
    teacher, tok, data, W, S, wm = setting
    blocks = torch.as_tensor(data.valid[:len(data.valid)]["input_ids"])
    heads = torch.cat([blocks[:, o:o + W.prompt_len]
                       for o in range(0, blocks.shape[1] - W.prompt_len, 8)])[:W.texts]
    marked = watermarked_generate(teacher, heads, wm, max_new_tokens=W.max_new_tokens, seed=5)
    clean = watermarked_generate(teacher, heads, None, max_new_tokens=W.max_new_tokens, seed=5)
    tpr = np.mean([score_ids(t, wm)["z"] > 4 for t in marked])
    fpr = np.mean([score_ids(t, wm)["z"] > 4 for t in clean])
    print(f"[{PROFILE}] detected at z > 4: {tpr:.0%} watermarked, {fpr:.0%} clean")
    assert tpr >= 0.9 and fpr <= 0.01


@pytest.mark.slow
def test_radioactivity_tests_are_valid_and_catch_the_student(setting):
    teacher, tok, data, W, S, wm = setting
    prompts = random_snippets(data.corpus.train, S.prompts, seed=0)
    marked, clean = R.harvest_both(teacher, tok, wm, prompts,
                                   R.harvest_folder(teacher, wm, S, PROFILE),
                                   max_tokens=S.max_tokens, progress=False)
    # Only the students the assertions below read: the clean (0%) and the fully watermarked
    # (100%) harvest, over the lesson's seeds. The shares between and the smaller harvests
    # draw the lesson's detection-limit curve, which this test does not assert; leaving
    # them out takes 9 of 15 students (about 160 s of `make test-slow`).
    runs = R.share_runs(marked, clean, [0.0, 1.0], range(S.seeds))
    students = R.train_share_students(runs, tok, R.student_sizes(S, teacher.config.n_positions),
                                progress=False)
    texts_m = R.completion_ids(marked, tok)
    heads = [t[:S.head_len] for t in texts_m if len(t) >= S.head_len][:S.sample_prompts]
    closed = R.closed_model_scores(students, wm, heads, S.sample_tokens, progress=False,
                                   calibration_keys=S.calibration_keys)
    texts = [list(b) for b in data.valid[:S.eval_blocks]["input_ids"]]
    opened = R.open_weights_table(students, teacher, texts, wm, S.null_keys, S.calibration_keys,
                                  progress=False)
    rows = [dict(share=r["share"], kind=r["kind"], n=r["n"], seed=r["seed"],
                 marked_tokens=r["marked_tokens"], **c, **o)
            for r, c, o in zip(students, closed, opened)]
    for r in rows:
        print(f"[{PROFILE}] {r['kind']:6} share {r['share']:.2f} n {r['n']:4} seed {r['seed']} "
              f"tokens {r['marked_tokens']:6}: naive z {r['naive_z']:6.1f}  dedup z "
              f"{r['dedup_z']:6.2f} p {r['dedup_p']:.1e}  open z {r['open_z']:6.2f} "
              f"p {r['open_p']:.1e}")

    # every valid test is calibrated: under other keys, p < 0.01 no more often than chance
    for name in ("null_dedup_p", "null_open_p"):
        ps = np.concatenate([r[name] for r in rows])
        assert len(ps) >= 10
        assert (ps < 0.01).sum() <= _allowed(len(ps)), (name, (ps < 0.01).sum(), len(ps))
    # the valid tests do not call a clean student radioactive
    cleans = [r for r in rows if r["share"] == 0.0]
    assert all(r["dedup_p"] > 1e-3 and r["open_p"] > 1e-3 for r in cleans)
    if PROFILE == "ci":
        pytest.skip("the naive score's false alarm and the power claims are asserted at the "
                    "cpu size (ci's harvest has too few watermarked prompts to show them)")
    # the trap: the naive score calls clean students radioactive
    assert all(r["naive_p"] < 0.01 for r in cleans), [r["naive_z"] for r in cleans]
    full = [r for r in rows if r["kind"] == "share" and r["share"] == 1.0]
    assert len(full) >= 3
    assert all(r["dedup_p"] < 1e-5 for r in full) or all(r["open_p"] < 1e-5 for r in full), \
        [(r["dedup_p"], r["open_p"]) for r in full]
