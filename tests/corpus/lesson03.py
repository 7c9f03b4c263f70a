"""Lesson 03's corpus: agreement, ECE, and the three find-the-bug functions."""

PRELUDE = "import torch\nimport torch.nn.functional as F\n"

_ECE_BODY_RIGHT = '''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(dim=-1).max(dim=-1)
    correct = (pred == labels).float()
    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.float().mean() * (correct[in_bin].mean() - conf[in_bin].mean()).abs()
    return float(total)
'''

_STEP = '''
def kd_step(student, teacher, optimizer, x, T):
{teacher}
    log_p = F.log_softmax(student(x) / T, dim=-1)
    loss = F.kl_div(log_p, F.softmax(t / T, dim=-1), reduction="batchmean") * T * T
{update}
    return loss.item()
'''
_UPDATE = "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()"


def _step(teacher, update=_UPDATE):
    return _STEP.format(teacher=teacher, update=update)


_BATCHES = '''
def cached_batches(x, y, cached, batch_size, seed):
{body}
'''


def _batches(body):
    return _BATCHES.format(body=body)


CORPUS = {
    "q1": {
        "right": [
            "def top1_agreement(s, t):\n    return (s.argmax(dim=-1) == t.argmax(dim=-1)).float().mean().item()\n",
            "def top1_agreement(s, t):\n    return torch.eq(s.argmax(1), t.argmax(1)).sum().item() / len(s)\n",
            "def top1_agreement(student_logits, teacher_logits):\n"
            "    a = student_logits.softmax(-1).argmax(-1)\n    b = teacher_logits.softmax(-1).argmax(-1)\n"
            "    return (a == b).double().mean()\n",
            "def top1_agreement(s, t):\n    same = 0\n    for a, b in zip(s, t):\n"
            "        same += int(a.argmax() == b.argmax())\n    return same / len(s)\n",
        ],
        "wrong": [
            ("def top1_agreement(s, t):\n    return (s.argmax(0) == t.argmax(0)).float().mean().item()\n",
             "dimension 0"),
            ("def top1_agreement(s, t):\n    return (s.argmax(-1) == t.argmax(-1)).sum().item()\n", "share"),
            ("def top1_agreement(s, t):\n    return (s.argmax(-1) != t.argmax(-1)).float().mean().item()\n",
             "top1_agreement\\("),
            ("def top1_agreement(s, t):\n    return (s.softmax(-1) - t.softmax(-1)).abs().sum(-1).mean().item()\n",
             "how far apart"),
            ("def top1_agreement(s, t):\n    return (s.max(-1).values == t.max(-1).values).float().mean().item()\n",
             "top1_agreement\\("),
            ("def top1_agreement(s, t):\n    return (s.argmax(-1) == t.argmax(-1)).sum().item() / s.shape[1]\n",
             "top1_agreement\\("),
            ("def top1_agreement(s, t):\n    return (s.argmax(-1) == t.argmax(-1)).mean()\n", "raised"),
        ],
    },
    "q2": {
        "right": [
            _ECE_BODY_RIGHT,
            '''
def ece(logits, labels, n_bins=10):
    probs = torch.softmax(logits, dim=1)
    conf, pred = probs.max(dim=1)
    edges = torch.linspace(0, 1, n_bins + 1)
    n, total = len(conf), 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.sum() > 0:
            acc = (pred[m] == labels[m]).float().mean()
            total += m.sum() / n * torch.abs(acc - conf[m].mean())
    return total.item() if torch.is_tensor(total) else total
''',
            '''
def ece(logits, labels, n_bins=10):
    conf, pred = F.softmax(logits, -1).max(-1)
    idx = torch.clamp(torch.ceil(conf * n_bins).long() - 1, 0, n_bins - 1)
    gap = torch.zeros(n_bins).index_add_(0, idx, (pred == labels).float() - conf)
    return float(gap.abs().sum() / len(conf))
''',
        ],
        "wrong": [
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    gaps = [((pred[bins == b] == labels[bins == b]).float().mean() - conf[bins == b].mean()).abs()
            for b in range(n_bins) if (bins == b).any()]
    return float(sum(gaps) / len(gaps))
''', "equal weight"),
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean())
    return float(abs(total))
''', "cancel"),
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    return float(((pred == labels).float().mean() - conf.mean()).abs())
''', "overall|cancel"),   # the same number as the signed sum of the gaps
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    idx = (conf * n_bins).long()
    total = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean()).abs()
    return float(total)
''', "exactly 1.0"),
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    bins = (conf * 10).ceil().long().clamp(1, 10) - 1
    total = 0.0
    for b in range(10):
        m = bins == b
        if m.any():
            total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean()).abs()
    return float(total)
''', "n_bins=5|n_bins=3"),
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        total += m.float().mean() * ((pred[m] == labels[m]).float().mean() - conf[m].mean()).abs()
    return float(total)
''', "NaN"),
            ('''
def ece(logits, labels, n_bins=10):
    conf, pred = logits.softmax(-1).max(-1)
    bins = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += ((pred[m] == labels[m]).float().mean() - conf[m].mean()).abs() / n_bins
    return float(total)
''', "ece\\("),
        ],
    },
    "q3": {
        "right": [
            "def kd_loss_fixed(s, t, T):\n"
            "    return F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(t / T, dim=-1), reduction='batchmean') * T * T\n",
            "def kd_loss_fixed(student_logits, teacher_logits, T):\n"
            "    p = F.softmax(teacher_logits / T, -1)\n"
            "    return (p * (p.log() - F.log_softmax(student_logits / T, -1))).sum(-1).mean() * T ** 2\n",
            "def kd_loss_fixed(student_logits, teacher_logits, T):\n"
            "    return torch.nn.KLDivLoss(reduction='batchmean', log_target=True)(\n"
            "        F.log_softmax(student_logits / T, -1), F.log_softmax(teacher_logits / T, -1)) * T * T\n",
        ],
        "wrong": [
            ("def kd_loss_fixed(s, t, T):\n"
             "    return F.kl_div(F.log_softmax(t / T, -1), F.softmax(s / T, -1), reduction='batchmean') * T * T\n",
             "still the bug"),
            ("def kd_loss_fixed(s, t, T):\n"
             "    return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='sum') / t.numel() * T * T\n",
             "batchmean"),
            ("def kd_loss_fixed(s, t, T):\n"
             "    return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='batchmean')\n",
             "T \\* T"),
            ("def kd_loss_fixed(s, t, T):\n"
             "    return (F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='batchmean') * T * T).item()\n",
             "should be a torch tensor"),
            ("def kd_loss_fixed(s, t, T):\n"
             "    return F.kl_div(F.softmax(s / T, -1).log(), F.softmax(t, -1), reduction='batchmean') * T * T\n",
             "kd_loss_fixed\\("),
            ("def kd_loss_fixed(s, t, T):\n"
             "    with torch.no_grad():\n"
             "        return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='batchmean') * T * T\n",
             "gradients"),
        ],
    },
    "q4": {
        "right": [
            _step("    teacher.eval()\n    with torch.no_grad():\n        t = teacher(x)"),
            _step("    teacher.eval()\n    t = teacher(x).detach()"),
            _step("    was_training = teacher.training\n    teacher.eval()\n    with torch.no_grad():\n"
                  "        t = teacher(x)\n    teacher.train(was_training)"),
            _step("    teacher.eval()\n    with torch.inference_mode():\n        t = teacher(x).clone()"),
        ],
        "wrong": [
            (_step("    teacher.eval()\n    t = teacher(x)"), "teacher received gradients"),
            (_step("    with torch.no_grad():\n        t = teacher(x)"), "training mode"),
            (_step("    teacher.eval()\n    t = teacher(x).detach()", "    loss.backward()\n    optimizer.step()"),
             "zero_grad"),
            (_step("    teacher.eval()\n    t = teacher(x).detach()",
                   "    optimizer.zero_grad()\n    loss.backward()"), "update"),
            (_step("    teacher.eval()\n    t = teacher(x)",
                   "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n"
                   "    teacher.zero_grad()"), "weights changed|teacher received"),
            ('''
def kd_step(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
        loss = F.kl_div(F.log_softmax(student(x) / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T * T
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
''', "raised RuntimeError"),
            ('''
def kd_step(student, teacher, optimizer, x, T):
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    loss = F.kl_div(F.log_softmax(t / T, -1), F.softmax(student(x) / T, -1), reduction="batchmean") * T * T
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
''', "returned loss"),
        ],
    },
    "q5": {
        "right": [
            _batches("    g = torch.Generator().manual_seed(seed)\n    perm = torch.randperm(len(x), generator=g)\n"
                     "    for i in range(0, len(perm), batch_size):\n        rows = perm[i:i + batch_size]\n"
                     "        yield x[rows], y[rows], cached[rows]"),
            _batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))\n"
                     "    return [(x[idx], y[idx], cached[idx]) for idx in order.split(batch_size)]"),
            _batches("    torch.manual_seed(seed)\n    perm = torch.randperm(x.shape[0])\n    out = []\n"
                     "    start = 0\n    while start < len(x):\n        idx = perm[start:start + batch_size]\n"
                     "        out.append([x[idx], y[idx], cached[idx]])\n        start += batch_size\n    return out"),
        ],
        "wrong": [
            (_batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))\n"
                      "    for start in range(0, len(x), batch_size):\n        idx = order[start:start + batch_size]\n"
                      "        yield x[idx], y[idx], cached[start:start + batch_size]"), "misaligned"),
            (_batches("    for start in range(0, len(x), batch_size):\n"
                      "        s = slice(start, start + batch_size)\n        yield x[s], y[s], cached[s]"),
             "not shuffled"),
            (_batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))\n"
                      "    for start in range(0, len(x) - batch_size + 1, batch_size):\n"
                      "        idx = order[start:start + batch_size]\n        yield x[idx], y[idx], cached[idx]"),
             "exactly once"),
            (_batches("    order = torch.randperm(len(x))\n"
                      "    for start in range(0, len(x), batch_size):\n        idx = order[start:start + batch_size]\n"
                      "        yield x[idx], y[idx], cached[idx]"), "same `seed`"),
            (_batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))\n"
                      "    for start in range(0, len(x), batch_size):\n        idx = order[start:start + batch_size]\n"
                      "        yield x[idx], y[idx], cached[idx]"), "seed=1"),
            (_batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))\n"
                      "    start = 0\n    while True:\n        idx = order[start % len(x):start % len(x) + batch_size]\n"
                      "        yield x[idx], y[idx], cached[idx]\n        start += batch_size"), "more than 7 batches"),
            (_batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))\n"
                      "    x[:] = x[order]\n    y[:] = y[order]\n    cached[:] = cached[order]\n"
                      "    for start in range(0, len(x), batch_size):\n        s = slice(start, start + batch_size)\n"
                      "        yield x[s], y[s], cached[s]"), "changed its argument"),
            (_batches("    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))\n"
                      "    for start in range(0, len(x), batch_size):\n        idx = order[start:start + batch_size]\n"
                      "        yield x[idx], y[idx]"), "tuple `\\(xb, yb, tb\\)`"),
        ],
    },
}
