"""Unit tests of stored-output distillation (course_utils.train.distill) and course_utils.omitted_class."""
import pytest
import torch

from course_utils.models import MLPStudent
from course_utils.omitted_class import (bias_shift_curve, class_errors, search_bias_shift,
                                        shift_class_bias, without_class)
from course_utils.train import distill, distill_live, predict_logits


def _toy(n=200, d=6, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, k, generator=g)
    return x, (x @ w).argmax(-1)


def test_distill_on_stored_logits_equals_distill_live():
    x, y = _toy()
    teacher = MLPStudent(6, 4, hidden=16).eval()
    a, b = MLPStudent(6, 4, hidden=8), MLPStudent(6, 4, hidden=8)
    b.load_state_dict(a.state_dict())
    distill_live(a, teacher, (x, y), epochs=2, T=3.0, alpha=0.7, batch_size=32, seed=1,
                 progress=False, device="cpu")
    distill(b, x, predict_logits(teacher, x), y, epochs=2, T=3.0, alpha=0.7,
            batch_size=32, seed=1, progress=False, device="cpu")
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_distill_learns_without_labels_and_checks_inputs():
    torch.manual_seed(0)  # the agreement depends on the initialisation: fixed, not test order
    x, y = _toy(400)
    teacher = MLPStudent(6, 4, hidden=32)
    from course_utils.train import fit
    fit(teacher, (x, y), epochs=30, progress=False, device="cpu")
    tl = predict_logits(teacher, x)
    student = MLPStudent(6, 4, hidden=16)
    h = distill(student, x, tl, None, epochs=80, T=2.0, test=(x, y), progress=False,
                device="cpu")
    agree = (predict_logits(student, x).argmax(-1) == tl.argmax(-1)).float().mean()
    assert agree > 0.8 and h.train_loss[-1] < h.train_loss[0]
    with pytest.raises(ValueError, match="one row of teacher logits"):
        distill(student, x, tl[:-1], progress=False)
    with pytest.raises(ValueError, match="no labels"):
        distill(student, x, tl, None, alpha=0.5, progress=False)


def test_without_class_removes_every_row_of_the_class():
    x, y = torch.arange(10.0)[:, None], torch.tensor([0, 3, 1, 3, 2, 3, 0, 1, 2, 3])
    extra = torch.arange(10)
    x2, y2, e2 = without_class(x, y, 3, extra)
    assert (y2 != 3).all() and len(y2) == 6 and torch.equal(e2, torch.tensor([0, 2, 4, 6, 7, 8]))
    assert torch.equal(x2[:, 0].long(), e2)
    with pytest.raises(ValueError, match="no example of class 7"):
        without_class(x, y, 7)


def test_shift_class_bias_moves_one_logit_and_copies():
    model = MLPStudent(6, 4, hidden=8)
    x = torch.randn(5, 6)
    before = predict_logits(model, x)
    shifted = shift_class_bias(model, 2, 1.5)
    after = predict_logits(shifted, x)
    assert torch.allclose(after[:, 2], before[:, 2] + 1.5, atol=1e-6)
    assert torch.allclose(after[:, [0, 1, 3]], before[:, [0, 1, 3]])
    assert torch.allclose(predict_logits(model, x), before)  # the original is untouched
    with pytest.raises(ValueError, match="not one of the model's 4 outputs"):
        shift_class_bias(model, 4, 1.0)
    with pytest.raises(ValueError, match="no final nn.Linear"):
        shift_class_bias(torch.nn.Sequential(torch.nn.ReLU()), 0, 1.0)


def test_class_errors_and_bias_curve():
    logits = torch.tensor([[2.0, 0.0, 1.0], [2.0, 0.0, 1.5], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([2, 2, 1, 2])
    r = class_errors(logits, y, 2)
    assert r["errors"] == 2 and r["errors_on_2"] == 2 and r["n_2"] == 3
    assert r["accuracy_on_2"] == pytest.approx(1 / 3)
    curve = bias_shift_curve(logits, y, 2, [0.0, 1.25])
    assert curve["accuracy_on_2"] == pytest.approx([1 / 3, 1.0]) and curve["accuracy"][1] == 1.0


def test_search_bias_shift_finds_the_shift_on_held_out_data():
    # A linear "model" whose class-1 logit is 2 too low: the search must raise it by ~2.
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.copy_(torch.tensor([0.0, -2.0]))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 2, generator=g)
    y = (x[:, 1] > x[:, 0]).long()
    shift = search_bias_shift(model, x, y, cls=1)
    assert 1.5 <= shift <= 2.5
    assert search_bias_shift(model, x, y, cls=1, shifts=[0.0]) == 0.0
    with pytest.raises(ValueError, match="held-out"):
        search_bias_shift(model, x[:0], y[:0], cls=1)
