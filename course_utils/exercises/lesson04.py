"""Questions of lesson 04 (beyond logits): attention maps, relational distances, hints."""
import torch
import torch.nn.functional as F

from ..feature_kd import attention_map as _attention_map
from ..feature_kd import normalized_distances as _normalized_distances
from .core import EqualityProblem, FunctionProblem, ThoughtProblem, ____

__all__ = ["q1", "q2", "q3", "q4", "____"]


def _feature_cases():
    g = torch.Generator().manual_seed(4)
    cases = []
    for n, c, length, p in ((4, 8, 20, 2.0), (3, 64, 5, 2.0), (2, 5, 10, 1.0), (5, 3, 7, 3.0)):
        cases.append(((torch.randn(n, c, length, generator=g),), {"p": p}))
    return cases


q1 = FunctionProblem(
    name="q1", var="attention_map_1d", reference=_attention_map, cases=_feature_cases,
    mistakes=[
        (lambda f, p=2.0: F.normalize(f.abs().pow(p).mean(dim=2), dim=1),
         "you averaged over the positions (dimension 2). The map should keep one value per "
         "*position*: average over the channels, `dim=1`."),
        (lambda f, p=2.0: f.abs().pow(p).mean(dim=1),
         "the map is not normalised: a student with smaller activations would be penalised for "
         "its scale, not its shape. Divide each row by its L2 norm (`F.normalize(..., dim=1)`)."),
        (lambda f, p=2.0: F.normalize(f.pow(p).mean(dim=1), dim=1),
         "negative activations cancel positive ones for odd `p`: take `abs()` before the power."),
        (lambda f, p=2.0: torch.softmax(f.abs().pow(p).mean(dim=1), dim=1),
         "softmax is not the normalisation attention transfer uses: divide by the L2 norm instead."),
        (lambda f, p=2.0: F.normalize(f.abs().mean(dim=1).pow(p), dim=1),
         "you raised the channel *mean* to the power p; raise each |activation| to the power p "
         "first, then average over the channels."),
        (lambda f, p=2.0: F.normalize(f.abs().pow(2).mean(dim=1), dim=1),
         "your map ignores `p` (it always squares): use `feat.abs().pow(p)`."),
        (lambda f, p=2.0: F.normalize(f.abs().pow(p).mean(dim=1), p=1, dim=1),
         "you divided by the L1 norm (the sum); attention transfer divides by the L2 norm "
         "(`F.normalize(..., dim=1)`, whose default is p=2)."),
    ],
    hints=["Features have shape `(N, C, L)`. Which dimension should disappear?",
           "`F.normalize(x, dim=1)` divides each row by its L2 norm."],
    solution="```python\ndef attention_map_1d(feat, p=2.0):\n"
             "    return F.normalize(feat.abs().pow(p).mean(dim=1), dim=1)\n```",
    correct_message="one unit-length map per example, whatever the number of channels: student "
                    "and teacher maps can now be compared directly.",
)


def _emb_cases():
    g = torch.Generator().manual_seed(8)
    return [((torch.randn(n, d, generator=g) * s,), {}) for n, d, s in
            ((6, 4, 1.0), (10, 32, 5.0), (3, 2, 0.1), (2, 5, 2.0))]


def _dist(e):
    return torch.cdist(e, e)


q2 = FunctionProblem(
    name="q2", var="normalized_distances_fn", reference=_normalized_distances, cases=_emb_cases,
    rtol=1e-3, atol=1e-4,
    mistakes=[
        (lambda e: _dist(e), "these are the raw distances. Divide them by their mean, so that a "
                             "student whose embeddings live on a smaller scale is not penalised."),
        (lambda e: _dist(e) / _dist(e).mean(),
         "your mean includes the N zeros on the diagonal (an example's distance to itself). "
         "Average over the N·(N−1) pairs of *different* examples."),
        (lambda e: _dist(e) ** 2 / (_dist(e) ** 2).sum() * (len(e) * (len(e) - 1)),
         "those are squared distances: RKD uses plain Euclidean distances."),
        (lambda e: _dist(e) / _dist(e).max(),
         "you divided by the *largest* distance; divide by the mean distance between different "
         "examples."),
        (lambda e: _dist(e) / _dist(e).mean(dim=1, keepdim=True),
         "you divided each row by its own mean: use one number, the mean over all pairs of "
         "different examples."),
    ],
    hints=["`torch.cdist(emb, emb)` gives all pairwise Euclidean distances, shape `(N, N)`.",
           "The diagonal is zero; the mean should be taken over the `N * (N - 1)` off-diagonal entries."],
    solution="```python\ndef normalized_distances_fn(emb):\n"
             "    d = torch.cdist(emb, emb)\n"
             "    n = len(emb)\n"
             "    return d / (d.sum() / (n * (n - 1)))\n```",
    correct_message="distances measured in units of the batch's own mean distance: only the "
                    "*shape* of the cloud of examples is compared.",
)


q3 = EqualityProblem(
    name="q3",
    expected={"regressor_in": 8, "regressor_out": 64},
    mistakes=[({"regressor_in": 64, "regressor_out": 8},
               "the regressor maps the **student's** features (its input) to the **teacher's** width "
               "(its output), not the other way round: the teacher's features are the target."),
              ({"regressor_in": 8, "regressor_out": 8},
               "with 8 output channels the regressed student features cannot be compared with the "
               "teacher's 64 channels.")],
    hints="The regressor is applied to the student's features, and its output is compared with the teacher's.",
    solution="`regressor_in = 8` (student channels) and `regressor_out = 64` (teacher channels): "
             "`nn.Conv1d(8, 64, kernel_size=1)`.",
)

q4 = ThoughtProblem(
    name="q4",
    solution="Giving teacher and student the *same* augmented input turns every augmentation into "
             "a new example on which the student can be told what the teacher thinks: the transfer "
             "set becomes as large as the augmentations can make it, and the student matches the "
             "teacher's *function* around the data, not just at the training points. The labels "
             "are not needed for these new points. If teacher and student saw *different* "
             "augmentations, the student would be asked to give, for one input, the answer the "
             "teacher gave for another — noise in the targets (Beyer et al. 2022 call the "
             "consistent version *function matching*). It needs longer schedules because there is "
             "much more to match: a good teacher is *patient and consistent*.",
)
