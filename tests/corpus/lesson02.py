"""Lesson 02's corpus: the paired gain (values) and raise_logit (a function)."""
from decimal import Decimal

import numpy as np

PRELUDE = "import numpy as np\nimport torch\n"

_RESULTS = {"scratch": [0.612, 0.598, 0.605], "KD": [0.631, 0.607, 0.629],
            "scratch (short)": [0.55, 0.56, 0.54], "KD (short)": [0.52, 0.53, 0.50]}
_DIFF = (np.array(_RESULTS["KD"]) - np.array(_RESULTS["scratch"])) * 100


def _q1(mean, std):
    return {"results": _RESULTS, "gain_mean": mean, "gain_std": std}


CORPUS = {
    "q1": {
        "right": [_q1(_DIFF.mean(), _DIFF.std(ddof=1)),
                  _q1(float(round(_DIFF.mean(), 2)), float(_DIFF.std(ddof=1))),   # read off the print
                  _q1(Decimal(str(_DIFF.mean())), np.float32(_DIFF.std(ddof=1)))],
        "wrong": [(_q1(-_DIFF.mean(), _DIFF.std(ddof=1)), "wrong sign"),
                  (_q1(_DIFF.mean() / 100, _DIFF.std(ddof=1)), "fraction"),
                  (_q1(_DIFF.mean(), _DIFF.std(ddof=0)), "ddof=1|divides by n"),
                  (_q1(((np.array(_RESULTS["KD (short)"]) - np.array(_RESULTS["scratch (short)"])) * 100).mean(),
                       _DIFF.std(ddof=1)), "short"),
                  (_q1(_DIFF.mean(), abs(np.std(_RESULTS["KD"], ddof=1) - np.std(_RESULTS["scratch"], ddof=1)) * 100),
                   "difference of the two standard deviations"),
                  (_q1(_DIFF.mean(), "1.2"), "should be a number")],
    },
    "q3": {
        "right": [
            "def raise_logit(logits, cls, shift):\n    out = logits.clone()\n    out[:, cls] += shift\n    return out\n",
            "def raise_logit(logits, cls, shift):\n"
            "    bump = torch.zeros(logits.shape[1])\n    bump[cls] = shift\n    return logits + bump\n",
            "def raise_logit(logits, cls, shift):\n"
            "    return logits + shift * torch.nn.functional.one_hot(torch.tensor(cls), logits.shape[-1])\n",
            "def raise_logit(logits, cls, shift):\n"
            "    cols = [logits[:, j] + shift if j == cls else logits[:, j] for j in range(logits.shape[1])]\n"
            "    return torch.stack(cols, dim=1)\n",
        ],
        "wrong": [
            ("def raise_logit(logits, cls, shift):\n    logits[:, cls] += shift\n    return logits\n",
             "changed its argument `logits`"),
            ("def raise_logit(logits, cls, shift):\n    out = logits.clone()\n    out[cls] += shift\n    return out\n",
             "row"),
            ("def raise_logit(logits, cls, shift):\n    return logits + shift\n", "every logit"),
            ("def raise_logit(logits, cls, shift):\n    out = logits.clone()\n    out[:, cls] *= shift\n    return out\n",
             "multiplied"),
            ("def raise_logit(logits, cls, shift):\n    out = logits.clone()\n    out[:, cls] = shift\n    return out\n",
             "replaced"),
            ("def raise_logit(logits, cls, shift):\n    out = logits.clone()\n    out[:, cls - 1] += shift\n    return out\n",
             "cls - 1"),
            ("def raise_logit(logits, cls, shift):\n    return logits[:, cls] + shift\n", "should have shape"),
            ("def raise_logit(logits, cls, shift):\n    out = logits.clone()\n    out[:, cls] += shift\n",
             "returned None"),
            ("def raise_logit(logits, cls, shift):\n    out = logits.numpy().copy()\n    out[:, cls] += shift\n"
             "    return out.tolist()\n", "should be a torch tensor"),
        ],
    },
}
