"""Unit tests of the course_utils spine: config, data, models, losses, training, stats, io."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import config
from course_utils.data import OfflineError, load_digits, load_mnist, load_mnist1d, make_loader
from course_utils.io import atomic_write_text, load_npz
from course_utils.losses import kd_loss, softmax_with_temperature
from course_utils.models import ConvTeacher, MLPStudent, count_params
from course_utils.stats import mean_std, paired_test, summarize
from course_utils.train import distill_live, evaluate, fit, predict_logits


def test_profile_and_sizes():
    assert config.PROFILE == "ci"
    for experiment, table in config.SIZES.items():
        assert set(table) == set(config.PROFILES), f"{experiment} needs a size for every profile"
        keys = {p: set(v) for p, v in table.items()}
        assert len({frozenset(k) for k in keys.values()}) == 1, f"{experiment}: same keys in every profile"
    assert config.size("teacher_cnn").epochs == config.SIZES["teacher_cnn"]["ci"]["epochs"]
    with pytest.raises(KeyError, match="Known experiments"):
        config.size("nope")


def test_bad_profile_falls_back_with_message(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "huge")
    assert config._detect_profile() == "cpu"
    assert "not one of" in capsys.readouterr().err


def test_device_seed_doctor(capsys):
    assert config.get_device().type in ("cpu", "cuda", "mps")
    config.seed_everything(3)
    a = torch.rand(3)
    config.seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    report = config.doctor()
    out = capsys.readouterr().out
    assert "torch" in report and "profile" in out and "offline" in report["network"]


def test_mnist1d_is_generated_locally_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    data = load_mnist1d(600)
    assert data.x_train.shape == (480, 40) and data.x_test.shape == (120, 40)
    assert data.num_classes == 10 and data.x_train.dtype == torch.float32
    cached = list((tmp_path / "data").glob("mnist1d-*.npz"))
    assert len(cached) == 1
    again = load_mnist1d(600)
    assert torch.equal(again.x_train, data.x_train)
    cached[0].write_bytes(b"torn file")  # an interrupted write is regenerated, not a crash
    assert torch.equal(load_mnist1d(600).x_train, data.x_train)


@pytest.mark.parametrize("num_samples, seed, train_split", [(600, 42, 0.8), (2000, 7, 0.8), (1010, 3, 0.5)])
def test_mnist1d_is_the_packages_data_number_for_number(num_samples, seed, train_split):
    """Our vectorised generator gives exactly what mnist1d's own make_dataset gives (lesson
    figures and cache entries made with either are the same)."""
    from mnist1d.data import get_dataset_args, make_dataset
    from course_utils.data import generate_mnist1d
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_split
    ours = generate_mnist1d(args)
    state = np.random.get_state()
    theirs = make_dataset(args)
    np.random.set_state(state)   # the package seeds numpy's global generator
    for key in ("x", "y", "x_test", "y_test"):
        assert np.array_equal(ours[key], np.asarray(theirs[key])), key


def test_digits_and_offline_mnist():
    digits = load_digits()
    assert digits.x_train.shape[1:] == (1, 8, 8) and float(digits.x_train.max()) <= 1.0
    assert load_digits(flat=True).x_train.shape[1] == 64
    with pytest.raises(OfflineError, match="offline"):
        load_mnist()


def test_loader_is_seeded_and_complete():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    first = [b[1].tolist() for b in make_loader(x, y, 4, seed=1)]
    assert sorted(sum(first, [])) == list(range(10)) and len(first) == 3
    assert first == [b[1].tolist() for b in make_loader(x, y, 4, seed=1)]
    with pytest.raises(ValueError):
        make_loader(x, y[:5])


def test_models_shapes_and_params():
    teacher, student = ConvTeacher(channels=64), MLPStudent(hidden=64)
    x = torch.randn(5, 40)
    assert teacher(x).shape == (5, 10) and student(x).shape == (5, 10)
    assert [f.shape[-1] for f in teacher.features(x)] == [20, 10, 5]
    assert count_params(teacher) >= 10 * count_params(student)
    assert count_params(MLPStudent(40, 10, [8, 8])) == 40 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10


def test_softmax_with_temperature():
    z = torch.tensor([[2.0, 1.0, 0.0]])
    assert torch.allclose(softmax_with_temperature(z, 1.0), torch.softmax(z, -1))
    hot, cold = softmax_with_temperature(z, 10.0), softmax_with_temperature(z, 0.5)
    assert hot.max() < torch.softmax(z, -1).max() < cold.max()
    with pytest.raises(ValueError):
        softmax_with_temperature(z, 0.0)


def test_kd_loss_against_brute_force():
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 5), torch.randn(6, 5), torch.randint(0, 5, (6,))
    T, alpha = 3.0, 0.7
    p, q = torch.softmax(t / T, -1), torch.softmax(s / T, -1)
    kl = (p * (p.log() - q.log())).sum(-1).mean()
    expected = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(s, y)
    assert torch.allclose(kd_loss(s, t, y, T=T, alpha=alpha), expected, atol=1e-6)
    assert torch.allclose(kd_loss(s, t, None, T=T), T * T * kl, atol=1e-6)
    assert kd_loss(t, t, None).abs() < 1e-6


def test_kd_loss_gradient_scale_is_independent_of_T():
    torch.manual_seed(0)
    t = torch.randn(64, 10) * 3
    norms = []
    for T in (2.0, 8.0):
        s = torch.zeros(64, 10, requires_grad=True)
        kd_loss(s, t, None, T=T).backward()
        norms.append(s.grad.norm().item())
    assert 0.5 < norms[0] / norms[1] < 2.0  # with T**2 the gradients stay the same order


def test_fit_distill_evaluate_learn_something():
    data = load_digits(flat=True)
    config.seed_everything(0)
    model = MLPStudent(64, 10, 32)
    history = fit(model, (data.x_train, data.y_train), epochs=15, test=(data.x_test, data.y_test),
                  progress=False)
    assert len(history.test_accuracy) == 15 and history.final_accuracy > 0.85
    assert evaluate(model, (data.x_test, data.y_test))["accuracy"] == pytest.approx(history.final_accuracy)
    logits = predict_logits(model, data.x_test)
    assert logits.shape == (len(data.x_test), 10) and not model.training
    student = MLPStudent(64, 10, 16)
    h2 = distill_live(student, model, (data.x_train, data.y_train), epochs=15, T=4.0, alpha=0.9,
                      test=(data.x_test, data.y_test), progress=False)
    assert h2.final_accuracy > 0.6  # chance is 0.1
    seen = []
    def loss_fn(s, t, y):
        seen.append(t.requires_grad)
        return kd_loss(s, t, y)
    distill_live(MLPStudent(64, 10, 8), model, (data.x_train, data.y_train), epochs=1, loss_fn=loss_fn,
                 progress=False)
    assert seen and not any(seen), "teacher logits must carry no gradient"


def test_stats():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    assert mean_std([5.0]) == (5.0, 0.0)
    res = paired_test([0.9, 0.8, 0.85, 0.95], [0.7, 0.72, 0.69, 0.8])
    assert res["diff"] > 0 and res["p"] < 0.05 and res["n"] == 4
    assert np.isnan(paired_test([1.0], [0.0])["p"])
    with pytest.raises(ValueError):
        paired_test([1, 2], [1])
    table = summarize({"a": [0.5, 0.7]})
    assert table.loc["a", "mean"] == 60.0


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "grades.csv"
    atomic_write_text(target, "old")
    class Boom:
        def __str__(self):
            raise RuntimeError
    with pytest.raises(TypeError):
        atomic_write_text(target, Boom())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]
    assert load_npz(tmp_path / "missing.npz") is None


def test_course_cli(capsys):
    from course_utils.cli import main
    assert main([]) == 0
    assert main(["nope"]) == 2
    assert main(["doctor"]) == 0


def test_mnist1d_teacher_is_cached_and_survives_a_damaged_file(tmp_path, monkeypatch):
    from course_utils.stats import run_seeds
    from course_utils.teachers import mnist1d_teacher
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    data = load_mnist1d(600)
    teacher, info = mnist1d_teacher(data, epochs=2, channels=8, progress=False)
    assert not info["from_cache"] and 0.0 <= info["accuracy"] <= 1.0
    again, info2 = mnist1d_teacher(data, epochs=2, channels=8, progress=False)
    assert info2["from_cache"] and info2["accuracy"] == info["accuracy"]
    (tmp_path / "teachers" / info["path"].split("/")[-1]).write_bytes(b"broken")
    _, info3 = mnist1d_teacher(data, epochs=2, channels=8, progress=False)
    assert not info3["from_cache"]
    results = run_seeds(lambda s: {"a": s, "b": 2 * s}, [0, 1, 2], progress=False)
    assert results == {"a": [0, 1, 2], "b": [0, 2, 4]}


def _build_slowly(path, counter):
    """One process's request for the cache entry ``path``: builds take a second and are counted."""
    import time
    from course_utils.io import cached

    def build():
        with open(counter, "a") as f:
            f.write("built\n")
        time.sleep(1.0)
        return "value"

    def save(value, tmp):
        os.makedirs(tmp, exist_ok=True)
        with open(os.path.join(tmp, "v.txt"), "w") as f:
            f.write(value)

    def load(p):
        with open(os.path.join(p, "v.txt")) as f:
            return f.read()

    return cached(path, build, save, load)[0]


def test_two_processes_needing_one_entry_build_it_once(tmp_path):
    """Two notebooks (or a notebook and a test) asking for the same teacher at once: one builds
    it, the other waits and loads it; neither deletes the other's half-written entry."""
    import multiprocessing
    path, counter = tmp_path / "teachers" / "t-abc", tmp_path / "count.txt"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        values = pool.starmap(_build_slowly, [(str(path), str(counter))] * 2)
    assert values == ["value", "value"]
    assert counter.read_text().count("built") == 1
    assert not list(path.parent.glob("*.tmp"))
