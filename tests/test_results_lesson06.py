"""Results test of lesson 06: on the same token budget, the distilled student beats the scratch one.

Marked slow, it runs at the current profile's size: the `ci` size in `make test` (seconds) and
the `cpu` size the lesson uses in `make test-slow`. Both compare, seed by seed, a student trained on
hard labels with one trained on the teacher's full distributions (forward KL): same
architecture, same initial weights, same batches, same number of steps.
"""
import pytest

from course_utils.config import size
from course_utils.lm import compare_students, evaluate_lm
from course_utils.lm_losses import lm_kd_loss
from course_utils.stats import mean_std
from course_utils.teachers import lm_data, load_teacher, make_student


def _compare(profile: str) -> dict:
    teacher, tokenizer = load_teacher("course-gpt2", profile=profile, progress=False)
    data = lm_data(profile=profile)
    kd = size("lm_kd", profile)
    results = {"scratch": [], "forward KL": []}
    for seed in range(kd.seeds):
        runs = {name: (make_student(tokenizer, n_layer=kd.n_layer, n_embd=kd.n_embd, n_head=kd.n_head,
                                    block_size=data.block_size, seed=seed), fn)
                for name, fn in {"scratch": None,
                                 "forward KL": lambda s, t, y: lm_kd_loss(s, t, y, kind="forward")}.items()}
        compare_students(runs, data.train, steps=kd.steps, batch_size=kd.batch_size, lr=kd.lr,
                         teacher=teacher, seed=seed, progress=False)
        for name, (model, _) in runs.items():
            results[name].append(evaluate_lm(model, data.valid)["perplexity"])
    teacher_ppl = evaluate_lm(teacher, data.valid)["perplexity"]
    print(f"[{profile}] teacher {teacher_ppl:.1f}; " +
          "; ".join(f"{k} {m:.1f} ± {s:.1f} {[round(v, 1) for v in results[k]]}"
                    for k in results for m, s in [mean_std(results[k])]))
    return results


def _assert_distilled_wins(results):
    scratch, distilled = results["scratch"], results["forward KL"]
    assert mean_std(distilled)[0] < mean_std(scratch)[0]
    assert all(d < s for d, s in zip(distilled, scratch)), (scratch, distilled)


@pytest.mark.slow
def test_distilled_student_beats_scratch():
    """At the current profile's size: `ci` in `make test`, `cpu` in `make test-slow`."""
    from course_utils.config import PROFILE
    _assert_distilled_wins(_compare(PROFILE))
