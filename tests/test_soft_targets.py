"""Unit tests of course_utils.soft_targets and the lesson-01 plot and sizes."""
import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from course_utils import soft_targets as st  # noqa: E402
from course_utils.config import SIZES, size  # noqa: E402
from course_utils.losses import kd_loss  # noqa: E402


def test_entropy():
    assert float(st.entropy(torch.full((4,), 0.25))) == pytest.approx(math.log(4))
    assert float(st.entropy(torch.tensor([1.0, 0.0, 0.0]))) == 0.0  # 0 log 0 = 0, not NaN
    batch = torch.softmax(torch.randn(5, 7), -1)
    assert st.entropy(batch).shape == (5,)
    with pytest.raises(TypeError, match="probabilities"):
        st.entropy(torch.tensor([1, 0]))


def test_dark_knowledge_ranks_other_classes():
    p = torch.tensor([0.06, 0.7, 0.2, 0.04])
    assert st.dark_knowledge(p, k=2) == [(2, pytest.approx(0.2)), (0, pytest.approx(0.06))]
    # the answer given explicitly is excluded even when it is not the argmax
    assert [c for c, _ in st.dark_knowledge(p, answer=2, k=3)] == [1, 0, 3]
    assert len(st.dark_knowledge(p, k=10)) == 3
    with pytest.raises(ValueError, match="class index"):
        st.dark_knowledge(p, answer=4)
    with pytest.raises(ValueError, match="one probability vector"):
        st.dark_knowledge(p[None])


def test_wrong_class_mass():
    p = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    assert torch.allclose(st.wrong_class_mass(p), torch.tensor([0.1, 0.3]))
    assert torch.allclose(st.wrong_class_mass(p, torch.tensor([1, 1])), torch.tensor([0.9, 0.3]))
    with pytest.raises(ValueError, match="shape"):
        st.wrong_class_mass(p, torch.tensor([0]))


def test_class_similarity_rows():
    logits = torch.tensor([[5.0, 0.0, 0.0], [4.0, 1.0, 0.0], [0.0, 5.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    sim = st.class_similarity(logits, labels, T=2.0)
    assert sim.shape == (3, 3)
    assert torch.allclose(sim[0], torch.softmax(logits[:2] / 2, -1).mean(0))
    assert torch.allclose(sim[:2].sum(-1), torch.ones(2))
    assert torch.isnan(sim[2]).all()  # no example of class 2
    with pytest.raises(ValueError, match="positive"):
        st.class_similarity(logits, labels, T=0)
    with pytest.raises(ValueError, match="labels"):
        st.class_similarity(logits, labels[:2])


def test_logit_gradient_matches_formula_and_leaves_input_alone():
    torch.manual_seed(0)
    z, v = torch.randn(6, 5), torch.randn(6, 5) * 3
    T = 3.0
    grad = st.logit_gradient(kd_loss, z, v, T=T, alpha=1.0)
    expected = T * (torch.softmax(z / T, -1) - torch.softmax(v / T, -1)) / len(z)
    assert torch.allclose(grad, expected, atol=1e-6)
    assert not z.requires_grad and z.grad is None
    with pytest.raises(ValueError, match="single-number"):
        st.logit_gradient(lambda s: s * 2, z)


def test_numerical_gradient_agrees_with_autograd():
    torch.manual_seed(1)
    z, v = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    p = torch.softmax(v / 2, -1)
    f = lambda s: F.kl_div(F.log_softmax(s / 2, -1), p, reduction="batchmean")  # noqa: E731
    auto = st.logit_gradient(f, z)
    numeric = st.numerical_gradient(f, z)
    assert numeric.shape == z.shape
    assert torch.allclose(auto, numeric, atol=1e-8)
    # a wrong gradient would be caught: the check has teeth
    assert not torch.allclose(auto * 2, numeric, atol=1e-8)


def test_soft_gradient_shrinks_like_one_over_T_squared():
    """The fact lesson 01 teaches: without T**2, the gradient norm falls like 1/T**2."""
    torch.manual_seed(2)
    z, v = torch.randn(32, 10), torch.randn(32, 10) * 2
    norms = {T: st.logit_gradient(kd_loss, z, v, T=T, alpha=1.0).norm().item() / T**2
             for T in (8.0, 16.0, 32.0)}
    assert norms[8.0] / norms[16.0] == pytest.approx(4.0, rel=0.05)
    assert norms[16.0] / norms[32.0] == pytest.approx(4.0, rel=0.02)


def test_plot_temperature_curves():
    import matplotlib.pyplot as plt
    from course_utils.plotting import plot_temperature_curves
    ax = plot_temperature_curves(torch.tensor([2.0, 1.0, 0.0]), ["a", "b", "c"],
                                 temperatures=[0.5, 1.0, 10.0])
    assert len(ax.lines) == 3 + 2  # three classes, the 1/N and T = 1 guides
    assert ax.lines[0].get_linewidth() > ax.lines[1].get_linewidth()  # argmax drawn thick
    plt.close("all")
    with pytest.raises(ValueError, match="positive"):
        plot_temperature_curves(torch.zeros(3), temperatures=[0.0, 1.0])


def test_sizes_of_lesson01():
    assert set(SIZES["soft_targets"]) == {"ci", "cpu", "gpu"}
    keys = {frozenset(v) for v in SIZES["soft_targets"].values()}
    assert len(keys) == 1
    cfg = size("soft_targets", "ci")
    assert cfg.batch > 1 and cfg.seeds >= 2 and 1.0 in cfg.temperatures


def test_plot_soft_targets_log_scale_shows_tiny_probabilities():
    import matplotlib.pyplot as plt
    from course_utils.plotting import plot_soft_targets
    p = torch.tensor([[1 - 2e-9, 1e-9, 1e-9], [0.6, 0.3, 0.1]])
    ax = plot_soft_targets(p, labels=["a", "b"], log=True)
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] < 1e-9
    assert plot_soft_targets(p).get_ylim() == (0, 1)
    plt.close("all")
