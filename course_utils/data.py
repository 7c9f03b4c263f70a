"""Data sets, offline first (MNIST-1D and digits from lesson 01 on).

* MNIST-1D (Greydanus 2020), generated locally -- never downloaded -- exactly as the
  ``mnist1d`` package generates it (:func:`generate_mnist1d`), and cached on disk;
* scikit-learn's bundled 8x8 ``digits``;
* MNIST through Hugging Face ``datasets`` when online (skipped with a clear message offline).

Every loader returns a :class:`Split` of float32 inputs and int64 labels as torch tensors,
with a deterministic train/test split.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from .config import OfflineError, cache_dir, is_online, size
from .io import atomic_save_npz, load_npz

MNIST1D_CLASSES = [str(i) for i in range(10)]


@dataclass
class Split:
    """Train and test tensors of one data set."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str = ""

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    def loaders(self, batch_size: int = 128, shuffle: bool = True, seed: int = 0):
        """A shuffled (seeded) training loader and an unshuffled test loader."""
        return (make_loader(self.x_train, self.y_train, batch_size, shuffle, seed),
                make_loader(self.x_test, self.y_test, batch_size, False))

    def __repr__(self) -> str:
        return (f"Split({self.name!r}: train {tuple(self.x_train.shape)}, "
                f"test {tuple(self.x_test.shape)}, {self.num_classes} classes)")


class TensorLoader:
    """Minibatches ``(x, y)`` of in-memory tensors, reshuffled every epoch from a seed.

    It does what ``DataLoader(TensorDataset(x, y), shuffle=True)`` does, many times faster
    for small data: one index per batch instead of one ``__getitem__`` per example.
    """

    def __init__(self, x, y, batch_size=128, shuffle=True, seed=0):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}.")
        self.x, self.y, self.batch_size, self.shuffle = x, y, int(batch_size), shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.x[idx], self.y[idx]


def make_loader(x, y, batch_size=128, shuffle=True, seed=0) -> TensorLoader:
    return TensorLoader(x, y, batch_size, shuffle, seed)


def _to_split(x, y, x_test, y_test, name) -> Split:
    return Split(torch.as_tensor(np.asarray(x), dtype=torch.float32),
                 torch.as_tensor(np.asarray(y), dtype=torch.long),
                 torch.as_tensor(np.asarray(x_test), dtype=torch.float32),
                 torch.as_tensor(np.asarray(y_test), dtype=torch.long), name)


def load_mnist1d(num_samples: int | None = None, seed: int = 42, train_frac: float = 0.8) -> Split:
    """MNIST-1D, generated locally (Greydanus 2020) and cached.

    ``num_samples`` defaults to the profile's size (the paper uses 5000: 4000 train, 1000
    test). Inputs have shape ``(N, 40)``; labels are digits 0-9.
    """
    from mnist1d.data import get_dataset_args

    num_samples = num_samples or size("mnist1d").num_samples
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = int(num_samples), int(seed), float(train_frac)
    key = hashlib.sha1(json.dumps(vars(args), sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = cache_dir() / "data" / f"mnist1d-{key}.npz"
    arrays = load_npz(path)
    if arrays is None:
        arrays = generate_mnist1d(args)  # local generation: no download
        atomic_save_npz(path, arrays)
    return _to_split(arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"], "mnist1d")


def generate_mnist1d(args) -> dict:
    """MNIST-1D as ``mnist1d.data.make_dataset(args)`` makes it, number for number, 9x faster.

    Each example is a digit's template (the package's ``get_templates``) padded with zeros,
    stretched to ``template_len + padding[1]`` points, scaled, shifted in a circle, its zeros
    filled with smoothed noise, noised, sheared and resampled to ``final_seq_length`` points.
    The package does that one example at a time; here the random numbers are drawn one example
    at a time in the package's order (so the data are the same, ``tests/test_course_utils.py``
    checks it), and the arithmetic is done for all examples at once. At the `cpu` size of
    lesson 02's transfer set (125,000 examples) that is 3 s instead of 25.
    Returns the arrays ``x``, ``y``, ``x_test``, ``y_test``.
    """
    from mnist1d.data import get_templates
    from scipy.ndimage import gaussian_filter1d

    templates = get_templates()
    rng = np.random.RandomState(args.seed)   # the stream np.random.seed(args.seed) starts
    per_class = args.num_samples // len(templates["y"])
    labels = np.repeat(templates["y"], per_class)
    n, (low, high) = len(labels), args.padding
    length = args.template_len + high
    pads, ks = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    scales, shears = np.empty(n), np.empty(n)
    smooth_noise, noise = np.empty((n, length)), np.empty((n, length))
    for i in range(n):   # the package's draws, in its order
        pads[i] = low + int(rng.rand() * (high - low + 1))
        scales[i] = 1 + args.scale_coeff * (rng.rand() - 0.5)
        ks[i] = rng.choice(args.max_translation)
        smooth_noise[i] = args.corr_noise_scale * rng.randn(length)
        noise[i] = args.iid_noise_scale * rng.randn(length)
        shears[i] = args.shear_scale * (rng.rand() - 0.5)
    xs = np.empty((n, length))
    signals = templates["x"][labels] + 1e-8
    for pad in np.unique(pads):   # pad, then stretch to `length` points
        rows = np.flatnonzero(pads == pad)
        xs[rows] = _resample(np.concatenate([signals[rows], np.zeros((len(rows), pad))], 1), length)
    xs *= scales[:, None]
    xs = np.take_along_axis(xs, (np.arange(length) - ks[:, None]) % length, axis=1)
    mask = xs != 0
    xs = mask * xs + (1 - mask) * gaussian_filter1d(smooth_noise, 2, axis=1)
    xs = xs + noise
    xs = xs - shears[:, None] * np.linspace(-0.5, 0.5, length)
    xs = _resample(xs, args.final_seq_length)
    order = rng.permutation(n)
    xs, ys = xs[order], labels[order]
    xs = (xs - xs.mean()) / xs.std()
    split = int(n * args.train_split)
    return {"x": xs[:split], "y": ys[:split], "x_test": xs[split:], "y_test": ys[split:]}


def _resample(y: np.ndarray, points: int) -> np.ndarray:
    """Each row of ``y``, read as values on ``linspace(0, 1, len)``, linearly interpolated at
    ``linspace(0, 1, points)``: what ``np.interp`` gives row by row, to the last bit."""
    width = y.shape[1]
    xp, x = np.linspace(0, 1, width), np.linspace(0, 1, points)
    j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, width - 1)
    exact = (xp[j] == x) | (j == width - 1)   # np.interp returns the value itself there
    left = np.minimum(j, width - 2)
    slope = (y[:, left + 1] - y[:, left]) / (xp[left + 1] - xp[left])
    out = slope * (x - xp[left]) + y[:, left]
    out[:, exact] = y[:, j[exact]]
    return out


def load_digits(test_frac: float = 0.25, seed: int = 0, flat: bool = False) -> Split:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images), scaled to [0, 1].

    Images have shape ``(N, 1, 8, 8)``, or ``(N, 64)`` with ``flat=True``.
    """
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = (bunch.images / 16.0).astype(np.float32)
    x = x.reshape(len(x), -1) if flat else x[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, bunch.target, test_size=test_frac,
                                              random_state=seed, stratify=bunch.target)
    return _to_split(x_tr, y_tr, x_te, y_te, "digits")


def load_mnist(max_train: int | None = None, flat: bool = False) -> Split:
    """MNIST (28x28) through Hugging Face ``datasets``: needs the network the first time.

    Raises :class:`OfflineError` with a clear message when offline; lessons catch it and
    fall back to MNIST-1D or digits.
    """
    if not is_online():
        raise OfflineError("MNIST needs the internet the first time (it is downloaded from the "
                           "Hugging Face Hub). You are offline, so this step is skipped: the "
                           "offline data sets (MNIST-1D, digits) show the same effect.")
    from datasets import load_dataset

    ds = load_dataset("ylecun/mnist")

    def arrays(part, limit):
        part = part.select(range(min(limit or len(part), len(part))))
        x = np.stack([np.asarray(img, dtype=np.float32) / 255.0 for img in part["image"]])
        x = x.reshape(len(x), -1) if flat else x[:, None]
        return x, np.asarray(part["label"])

    x_tr, y_tr = arrays(ds["train"], max_train)
    x_te, y_te = arrays(ds["test"], None)
    return _to_split(x_tr, y_tr, x_te, y_te, "mnist")
