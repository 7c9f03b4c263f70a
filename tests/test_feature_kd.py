"""Unit tests of course_utils.feature_kd: hooks, hint/attention/relational losses, augmentation, loop."""
import pytest
import torch

from course_utils.data import load_mnist1d
from course_utils.feature_kd import (AttentionLoss, FeatureHooks, HintLoss, RelationalLoss,
                                     attention_loss, attention_map, augment_mnist1d,
                                     distill_features, normalized_distances, rkd_angle_loss,
                                     rkd_distance_loss)
from course_utils.models import ConvTeacher, MLPStudent


def test_hooks_record_and_remove():
    model = ConvTeacher(channels=4)
    x = torch.randn(3, 40)
    with FeatureHooks(model, ["blocks.0", "blocks.2"]) as hooks:
        model(x)
        assert hooks["blocks.0"].shape == (3, 4, 20) and hooks["blocks.2"].shape == (3, 4, 5)
        assert torch.allclose(hooks["blocks.2"], model.features(x)[-1])
    assert not model.blocks[0]._forward_hooks
    with pytest.raises(KeyError, match="no layer"):
        FeatureHooks(model, ["nope"])
    with pytest.raises(KeyError, match="run the model"):
        FeatureHooks(MLPStudent(), "net.0")["net.0"]


def test_attention_map_is_unit_norm_channel_mean():
    f = torch.randn(5, 7, 11)
    a = attention_map(f)
    assert a.shape == (5, 11)
    assert torch.allclose(a.norm(dim=1), torch.ones(5), atol=1e-5)
    expected = (f ** 2).mean(1)
    assert torch.allclose(a, expected / expected.norm(dim=1, keepdim=True), atol=1e-6)
    # scale-free, and zero loss against itself even with another channel count
    assert torch.allclose(attention_map(3 * f), a, atol=1e-6)
    assert attention_loss(f, f.repeat(1, 3, 1)).item() == pytest.approx(0, abs=1e-6)
    assert attention_loss(torch.randn(5, 7, 5), f).item() >= 0   # lengths differ: resized
    with pytest.raises(ValueError, match="channels, length"):
        attention_map(torch.randn(4, 10))


def test_relational_losses_are_scale_invariant():
    e = torch.randn(12, 6)
    d = normalized_distances(e)
    off = d[~torch.eye(12, dtype=bool)]
    assert off.mean().item() == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(d.diagonal(), torch.zeros(12))
    assert rkd_distance_loss(5 * e, e).item() == pytest.approx(0, abs=1e-6)
    assert rkd_angle_loss(5 * e + 1, e).item() == pytest.approx(0, abs=1e-6)
    assert rkd_distance_loss(torch.randn(12, 6), e).item() > 0.01
    with pytest.raises(ValueError):
        rkd_angle_loss(e[:2], e[:2])


def test_hint_regressor_learns_a_linear_map():
    torch.manual_seed(0)
    hint = HintLoss("a", "b", 3, 6)
    W = torch.randn(6, 3)
    opt = torch.optim.Adam(hint.parameters(), lr=0.05)
    first = None
    for _ in range(200):
        s = torch.randn(8, 3, 5)
        t = torch.einsum("oc,ncl->nol", W, s)
        loss = hint(s, t)
        first = first if first is not None else loss.item()
        opt.zero_grad(); loss.backward(); opt.step()
    assert loss.item() < 0.01 * first
    with pytest.raises(ValueError, match="regressor"):
        hint(torch.randn(2, 3, 5), torch.randn(2, 6, 4))


def test_augment_shifts_and_noise():
    x = torch.arange(10.0).repeat(4, 1)
    assert torch.equal(augment_mnist1d(x, max_shift=0, noise=0.0), x)
    g = torch.Generator().manual_seed(0)
    out = augment_mnist1d(x, max_shift=2, noise=0.0, generator=g)
    for row in out:   # each row is a circular shift of 0..9 by at most 2
        assert any(torch.equal(row, torch.roll(x[0], k)) for k in range(-2, 3))
        assert sorted(row.tolist()) == list(range(10))
    noisy = augment_mnist1d(x, max_shift=0, noise=0.1)
    assert 0.05 < (noisy - x).std() < 0.2
    with pytest.raises(ValueError, match="length"):
        augment_mnist1d(torch.randn(2, 3, 4))


def test_distill_features_trains_student_and_regressor_with_consistent_augmentation():
    data = load_mnist1d(600)
    teacher, student = ConvTeacher(channels=8).eval(), ConvTeacher(channels=4)
    losses = [HintLoss("blocks.1", "blocks.1", 4, 8), AttentionLoss("blocks.0", "blocks.0"),
              RelationalLoss("blocks.2", "blocks.2")]
    before = losses[0].regressor.weight.detach().clone()
    seen = []

    def spy_augment(x, generator=None):
        out = augment_mnist1d(x, generator=generator)
        seen.append(out)
        return out

    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    h = distill_features(student, teacher, (data.x_train, data.y_train), epochs=1, extra_losses=losses,
                         augment=spy_augment, test=(data.x_test, data.y_test), progress=False, device="cpu")
    assert len(h.test_accuracy) == 1 and seen
    assert not torch.equal(before, losses[0].regressor.weight)      # the regressor was trained
    for k, v in teacher.state_dict().items():                       # the teacher was not
        assert torch.equal(v, t_before[k])
    assert not teacher.blocks[0]._forward_hooks and not student.blocks[0]._forward_hooks
    with pytest.raises(TypeError, match="FeatureLoss"):
        distill_features(student, teacher, (data.x_train, data.y_train), epochs=1,
                         extra_losses=[torch.nn.MSELoss()], progress=False)
