"""Unit tests of course_utils.metrics, train.distill, buggy_loops, run_table/summarize_table and plot_reliability."""
import math

import pytest
import torch

from course_utils import metrics
from course_utils.data import load_mnist1d
from course_utils.buggy_loops import distill_teacher_train_mode
from course_utils.models import ConvTeacher, MLPStudent
from course_utils.stats import compare_pairs, compare_to, per_seed, run_table, summarize_table
from course_utils.train import distill


def _logits_with_confidence(p, k=3):
    other = (1 - p) / (k - 1)
    return torch.log(torch.tensor([p] + [other] * (k - 1)))


def test_ece_known_answer():
    # 4 predictions at confidence 0.9, 3 right; 4 at 0.6, 2 right:
    # ECE = 0.5 * |0.75 - 0.9| + 0.5 * |0.5 - 0.6| = 0.125
    logits = torch.stack([_logits_with_confidence(0.9)] * 4 + [_logits_with_confidence(0.6)] * 4)
    labels = torch.tensor([0, 0, 0, 1, 0, 0, 1, 2])
    assert metrics.expected_calibration_error(logits, labels) == pytest.approx(0.125, abs=1e-6)
    bins = metrics.reliability_data(logits, labels, n_bins=10)
    assert bins["count"] == [0, 0, 0, 0, 0, 0, 4, 0, 4, 0]
    assert bins["accuracy"][8] == pytest.approx(0.75) and bins["confidence"][6] == pytest.approx(0.6)
    assert math.isnan(bins["accuracy"][0])
    # merging the two populations into one bin changes the answer: |0.625 - 0.75|
    assert metrics.expected_calibration_error(logits, labels, n_bins=1) == pytest.approx(0.125, abs=1e-6)


def test_ece_zero_for_perfect_calibration_and_confidence_one():
    logits = torch.tensor([[20.0, 0.0], [0.0, 20.0]])
    assert metrics.expected_calibration_error(logits, torch.tensor([0, 1])) == pytest.approx(0, abs=1e-6)
    assert metrics.expected_calibration_error(logits, torch.tensor([1, 0])) == pytest.approx(1, abs=1e-6)


def test_agreement_and_kl():
    s = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [1.0, 2.0, 0.0]])
    t = torch.tensor([[5.0, 1.0, 0.0], [4.0, 3.0, 1.0], [1.0, 0.0, 2.0], [0.0, 9.0, 0.0]])
    assert metrics.agreement(s, t) == pytest.approx(0.75)
    assert metrics.agreement(t, t) == 1.0
    assert metrics.kl_to_teacher(t, t) == pytest.approx(0.0, abs=1e-6)
    p_t, p_s = t.softmax(-1), s.softmax(-1)
    expected = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    assert metrics.kl_to_teacher(s, t) == pytest.approx(float(expected), rel=1e-5)
    assert metrics.accuracy(s, torch.tensor([0, 1, 2, 0])) == pytest.approx(0.75)
    report = metrics.student_report(s, torch.tensor([0, 1, 2, 0]), t)
    assert set(report) == {"accuracy", "ece", "agreement", "kl_to_teacher"}


def test_metrics_clear_errors():
    with pytest.raises(ValueError, match="same examples"):
        metrics.agreement(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="torch tensor"):
        metrics.accuracy([[1, 2]], [0])
    with pytest.raises(ValueError, match="labels"):
        metrics.expected_calibration_error(torch.zeros(3, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="n_bins"):
        metrics.reliability_data(torch.zeros(3, 4), torch.zeros(3), n_bins=0)


def test_plot_reliability_and_table_bars():
    import matplotlib
    matplotlib.use("Agg")
    from course_utils.plotting import plot_reliability, plot_table_bars
    logits = torch.randn(50, 10)
    ax = plot_reliability({"m": metrics.reliability_data(logits, torch.randint(0, 10, (50,)))})
    assert ax.get_xlabel().startswith("confidence")
    table = run_table({"a": lambda s: {"accuracy": 0.5 + s / 100}, "b": lambda s: 0.6}, seeds=[0, 1], progress=False)
    plot_table_bars(table, "accuracy", baseline="a")


def test_run_table_is_tidy_and_summarized():
    table = run_table({"a": lambda s: {"accuracy": 0.5 + 0.01 * s, "ece": 0.1},
                       "b": lambda s: 0.7 + 0.02 * s}, seeds=[0, 1, 2], progress=False)
    assert list(table.columns) == ["method", "seed", "metric", "value"]
    assert len(table) == 3 * 3
    assert per_seed(table, "accuracy") == {"a": [0.5, 0.51, 0.52], "b": [0.7, 0.72, 0.74]}
    wide = summarize_table(table, ["accuracy"])
    assert wide.loc["a", "accuracy (%)"] == "51.0 ± 1.0" and wide.loc["b", "seeds"] == 3
    diff = compare_to(table, "a")
    assert diff.loc["b", "diff vs a"] == pytest.approx(21.0)
    with pytest.raises(KeyError, match="metric"):
        per_seed(table, "nope")
    with pytest.raises(ValueError):
        run_table({}, seeds=[0])
    with pytest.raises(TypeError):
        run_table({"a": 3}, seeds=[0])


def test_compare_pairs_pairs_by_seed_and_says_inside_the_noise():
    import pandas as pd
    rows = [dict(method="a", seed=s, ppl=v) for s, v in [(2, 12.0), (0, 10.0), (1, 11.0)]]
    rows += [dict(method="b", seed=s, ppl=v) for s, v in [(0, 20.0), (1, 21.5), (2, 22.0)]]
    rows += [dict(method="c", seed=s, ppl=v) for s, v in [(0, 9.0), (1, 13.0), (2, 11.0)]]
    rows += [dict(method="d", seed=0, ppl=5.0)]
    out = compare_pairs(pd.DataFrame(rows), [("b", "a"), ("c", "a"), ("d", "a")], "ppl")
    assert list(out["verdict"]) == ["b higher", "inside the noise", "inside the noise"]
    assert out.loc[0, "a − b"] == pytest.approx(10.1667, abs=1e-3) and out.loc[0, "seeds"] == 3
    assert out.loc[0, "p"] < 0.01 and out.loc[1, "p"] > 0.5
    assert out.loc[2, "seeds"] == 1 and out.loc[2, "p"] != out.loc[2, "p"]   # one seed: no test
    with pytest.raises(KeyError, match="zzz"):
        compare_pairs(pd.DataFrame(rows), [("zzz", "a")], "ppl")
    with pytest.raises(KeyError, match="columns"):
        compare_pairs(pd.DataFrame(rows), [("a", "b")], "accuracy")


def _tiny_data():
    data = load_mnist1d(600)
    return data


def test_distill_stored_logits_aligns_indices_and_matches_teacher():
    data = _tiny_data()
    torch.manual_seed(0)
    # a "teacher" whose logits are the one-hot labels times 5: an aligned cache teaches the labels
    cache = torch.nn.functional.one_hot(data.y_train, 10).float() * 5
    student = MLPStudent(hidden=32)
    distill(student, data.x_train, cache, data.y_train, epochs=15, T=1.0, alpha=1.0,
            batch_size=64, progress=False, device="cpu")
    aligned = metrics.accuracy(student(data.x_train).detach(), data.y_train)
    torch.manual_seed(0)
    student = MLPStudent(hidden=32)
    perm = torch.randperm(len(cache))
    distill(student, data.x_train, cache[perm], data.y_train, epochs=15, T=1.0, alpha=1.0,
            batch_size=64, progress=False, device="cpu")
    misaligned = metrics.accuracy(student(data.x_train).detach(), data.y_train)
    assert aligned > misaligned + 0.15 and misaligned < 0.2, (aligned, misaligned)


def test_distill_stored_logits_errors_and_teacher_argument():
    data = _tiny_data()
    with pytest.raises(ValueError, match="one row per training example"):
        distill(MLPStudent(), data.x_train, torch.zeros(3, 10), data.y_train, progress=False)
    with pytest.raises(ValueError, match="teacher_logits"):
        distill(MLPStudent(), data.x_train, None, data.y_train, progress=False)
    h = distill(MLPStudent(), data.x_train, None, data.y_train, teacher=ConvTeacher(channels=4),
               epochs=1, progress=False, device="cpu", test=(data.x_test, data.y_test))
    assert len(h.test_accuracy) == 1


def test_teacher_train_mode_bug_leaves_callers_teacher_alone():
    data = _tiny_data()
    teacher = ConvTeacher(channels=4).eval()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    distill_teacher_train_mode(MLPStudent(), teacher, (data.x_train, data.y_train), epochs=1,
                               progress=False, device="cpu")
    assert not teacher.training
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k])
