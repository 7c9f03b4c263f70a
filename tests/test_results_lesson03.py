"""Results of lesson 03 that must really appear.

* ECE and agreement are right on a case with a known answer.
* A failure mode makes distillation lose to scratch and its fix restores the gain: with too few
  epochs a distilled MLP student is *worse* than the same student trained on labels; with a
  longer schedule the distilled student is *better*.

The second test is marked slow: `make test` runs it at the `ci` size (a smaller teacher, 2
seeds) and `make test-slow` at the `cpu` size (the lesson's teacher, 3 seeds, 30 vs 150 epochs).
"""
import pytest
import torch

from course_utils import metrics, seed_everything, size
from course_utils.data import load_mnist1d
from course_utils.models import MLPStudent
from course_utils.stats import per_seed, run_table
from course_utils.teachers import mnist1d_teacher
from course_utils.train import distill, evaluate, fit, predict_logits


def test_ece_and_agreement_on_a_known_case():
    def row(p, k=4):
        return torch.log(torch.tensor([p] + [(1 - p) / (k - 1)] * (k - 1)))
    # confidence 0.8 on 5 rows (4 right), 0.4 on 5 rows (1 right): ECE = .5*0 + .5*|0.2-0.4| = 0.1
    logits = torch.stack([row(0.8)] * 5 + [row(0.4)] * 5)
    labels = torch.tensor([0, 0, 0, 0, 1] + [0, 1, 2, 3, 1])
    assert metrics.expected_calibration_error(logits, labels) == pytest.approx(0.1, abs=1e-6)
    teacher = logits.clone()
    teacher[:3] = teacher[:3].flip(-1)          # the teacher disagrees on 3 of 10 rows
    assert metrics.agreement(logits, teacher) == pytest.approx(0.7)
    assert metrics.accuracy(logits, labels) == pytest.approx(0.5)


@pytest.mark.slow
def test_too_few_epochs_loses_to_scratch_and_more_epochs_restore_the_gain():
    R = size("few_epochs_results")
    torch.set_num_threads(1)
    data = load_mnist1d(R.num_samples)
    teacher, info = mnist1d_teacher(data, channels=R.teacher_channels, epochs=R.teacher_epochs,
                                    progress=False)
    cache = predict_logits(teacher, data.x_train)
    train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)

    def scratch(epochs):
        def run(seed):
            seed_everything(seed)
            student = MLPStudent(hidden=64)
            fit(student, train, epochs=epochs, seed=seed, progress=False)
            return evaluate(student, test)["accuracy"]
        return run

    def distilled(epochs):
        def run(seed):
            seed_everything(seed)
            student = MLPStudent(hidden=64)
            distill(student, train[0], cache, train[1], epochs=epochs, T=R.T, alpha=1.0, seed=seed, progress=False)
            return evaluate(student, test)["accuracy"]
        return run

    table = run_table({"scratch few": scratch(R.few_epochs), "KD few": distilled(R.few_epochs),
                       "scratch many": scratch(R.many_epochs), "KD many": distilled(R.many_epochs)},
                      seeds=range(R.seeds), progress=False)
    acc = {k: sum(v) / len(v) for k, v in per_seed(table, "accuracy").items()}
    print(f"teacher {info['accuracy']:.3f}; mean accuracy over {R.seeds} seeds:",
          {k: round(v * 100, 1) for k, v in acc.items()})
    assert acc["KD few"] < acc["scratch few"], "with too few epochs KD should lose to scratch"
    assert acc["KD many"] > acc["scratch many"], "with a long schedule KD should beat scratch"
