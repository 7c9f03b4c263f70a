"""Lesson 02's corpus: the paired gain (values) and raise_logit (a function)."""
from decimal import Decimal

import numpy as np

PRELUDE = "import numpy as np\nimport torch\nfrom course_utils.losses import kd_loss\n"

# a distillation step of lesson 02's q0, with its loss and its update order left open
_STEP = ("def distill_step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):\n"
         "    loss = {loss}\n    {order}\n    return loss.item()\n")

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
    # q0: one distillation step (a function the check runs on a real student and optimizer)
    "q0": {
        "right": [
            _STEP.format(loss="kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)",
                         order="optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()"),
            _STEP.format(loss="kd_loss(student(x), teacher_logits[rows].detach(), labels[rows], T, alpha)",
                         order="optimizer.zero_grad(set_to_none=True)\n    loss.backward()\n    optimizer.step()"),
            "import torch.nn.functional as F\n"
            "def distill_step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):\n"
            "    with torch.no_grad():\n        p = torch.softmax(teacher_logits[rows] / T, dim=1)\n"
            "    s = student(x)\n"
            "    soft = F.kl_div(F.log_softmax(s / T, dim=1), p, reduction='batchmean') * T ** 2\n"
            "    loss = alpha * soft + (1 - alpha) * F.cross_entropy(s, labels[rows])\n"
            "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
            "    return float(loss)\n",
        ],
        "wrong": [
            (_STEP.format(loss="kd_loss(teacher_logits[rows], student(x), labels[rows], T=T, alpha=alpha)",
                          order="optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()"), "swapped"),
            (_STEP.format(loss="kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)",
                          order="loss.backward()\n    optimizer.step()"), "zero_grad"),
            (_STEP.format(loss="kd_loss(student(x), teacher_logits[rows], labels[rows], T=T, alpha=alpha)",
                          order="optimizer.zero_grad()\n    optimizer.step()\n    loss.backward()"),
             "before `loss.backward\\(\\)`"),
            (_STEP.format(loss="kd_loss(student(x), teacher_logits[:len(x)], labels[:len(x)], T=T, alpha=alpha)",
                          order="optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()"), "rows"),
            (_STEP.format(loss="kd_loss(student(x), teacher_logits[rows], labels[rows])",
                          order="optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()"),
             "T=T, alpha=alpha"),
            ("import torch.nn.functional as F\n"
             "def distill_step(student, optimizer, x, rows, teacher_logits, labels, T, alpha):\n"
             "    s = student(x)\n"
             "    soft = F.kl_div(F.log_softmax(s / T, 1), F.softmax(teacher_logits[rows] / T, 1), reduction='batchmean')\n"
             "    loss = alpha * soft + (1 - alpha) * F.cross_entropy(s, labels[rows])\n"
             "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
             "    return loss.item()\n", "T\\*\\*2"),
        ],
    },
}
