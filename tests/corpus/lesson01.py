"""Lesson 01's corpus: softmax with temperature, the KD loss, the bug hunt."""

PRELUDE = "import torch\nimport torch.nn.functional as F\nimport warnings\n"

_KD_RIGHT = [
    '''
def {name}(student_logits, teacher_logits, labels, T, alpha):
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    p_teacher = F.softmax(teacher_logits / T, dim=-1)
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean") * T**2
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)
''',
    '''
def {name}(s, t, y, T=4.0, alpha=0.5):
    p = torch.softmax(t / T, dim=1)
    kl = (p * (torch.log(p) - torch.log_softmax(s / T, dim=1))).sum(dim=1).mean()
    return alpha * T * T * kl + (1 - alpha) * torch.nn.CrossEntropyLoss()(s, y)
''',
    '''
def {name}(student_logits, teacher_logits, labels, T, alpha):
    kl = torch.nn.KLDivLoss(reduction="batchmean")
    soft = kl(F.log_softmax(student_logits / T, -1), F.log_softmax(teacher_logits / T, -1).exp())
    hard = F.nll_loss(F.log_softmax(student_logits, -1), labels)
    return soft * (alpha * T ** 2) + hard * (1 - alpha)
''',
    '''
def {name}(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(F.log_softmax(student_logits / T, -1), F.log_softmax(teacher_logits / T, -1),
                    reduction="none", log_target=True).sum(-1).mean()
    return alpha * soft * T**2 + (1.0 - alpha) * F.cross_entropy(student_logits, labels)
''',
]

_KD_WRONG = [
    ('''
def {name}(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return alpha * soft + (1 - alpha) * F.cross_entropy(s, y)
''', "T²|T\\*\\*2|T² factor"),
    ('''
def {name}(s, t, y, T, alpha):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soft = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="mean")
    return alpha * soft * T**2 + (1 - alpha) * F.cross_entropy(s, y)
''', "batchmean"),
    ('''
def {name}(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(t / T, -1), F.softmax(s / T, -1), reduction="batchmean")
    return alpha * soft * T**2 + (1 - alpha) * F.cross_entropy(s, y)
''', "swapped"),
    ('''
def {name}(s, t, y, T, alpha):
    soft = F.kl_div(F.softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return alpha * soft * T**2 + (1 - alpha) * F.cross_entropy(s, y)
''', "log-probabilities|log_softmax"),
    ('''
def {name}(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t, -1), reduction="batchmean")
    return alpha * soft * T**2 + (1 - alpha) * F.cross_entropy(s, y)
''', "buggy|teacher's logits are not divided|softened"),
    ('''
def {name}(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return ((1 - alpha) * soft * T**2 + alpha * F.cross_entropy(s, y))
''', "alpha weighs the wrong term"),
    ('''
def {name}(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return (alpha * soft * T**2 + (1 - alpha) * F.cross_entropy(s, y)).item()
''', "should be a torch tensor"),
    ('''
def {name}(s, t, y, T, alpha):
    p = F.softmax(t / T, -1)
    ce = -(p * F.log_softmax(s / T, -1)).sum(-1).mean()
    return alpha * ce * T**2 + (1 - alpha) * F.cross_entropy(s, y)
''', "cross-entropy with the teacher's soft targets"),
    ('''
def {name}(s, t, y, T, alpha):
    s /= T
    t /= T
    soft = F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean")
    return alpha * soft * T**2 + (1 - alpha) * F.cross_entropy(s * T, y)
''', "changed its argument `s`"),
]

CORPUS = {
    "q1": {
        "right": [
            "def softmax_with_temperature(logits, T):\n    return torch.softmax(logits / T, dim=-1)\n",
            "def softmax_with_temperature(logits, T):\n"
            "    e = torch.exp(logits / T)\n    return e / e.sum(dim=-1, keepdim=True)\n",
            "def softmax_with_temperature(logits, T):\n"
            "    z = logits / T\n    z = z - z.max(-1, keepdim=True).values\n"
            "    return z.exp() / z.exp().sum(-1, keepdim=True)\n",
            "def softmax_with_temperature(logits, T):\n"
            "    return F.softmax(logits * (1.0 / T), dim=logits.dim() - 1)\n",
        ],
        "wrong": [
            ("def softmax_with_temperature(logits, T):\n    return torch.softmax(logits * T, dim=-1)\n",
             "multiply the logits by T"),
            ("def softmax_with_temperature(logits, T):\n    return torch.softmax(logits / T, dim=0)\n",
             "first axis"),
            ("def softmax_with_temperature(logits, T):\n    return torch.softmax(logits / T, dim=1)\n",
             r"shape \(10,\)|shape \(2, 3, 7\)"),
            ("def softmax_with_temperature(logits, T):\n    return torch.softmax(logits, -1) / T\n",
             "divide the \\*probabilities\\*"),
            ("def softmax_with_temperature(logits, T):\n    return torch.softmax(logits, -1)\n",
             "does not depend on T"),
            ("def softmax_with_temperature(logits, T):\n    e = torch.exp(logits / T)\n    return e / e.sum()\n",
             r"for `softmax_with_temperature\(<tensor of shape \(4, 10\)>"),
            ("def softmax_with_temperature(logits, T):\n    logits /= T\n    return torch.softmax(logits, -1)\n",
             "changed its argument `logits`"),
            ("def softmax_with_temperature(logits, T):\n    return torch.log_softmax(logits / T, -1)\n",
             "log-probabilities"),
        ],
    },
    "q2": {"right": [s.format(name="kd_loss") for s in _KD_RIGHT],
           "wrong": [(s.format(name="kd_loss"), m) for s, m in _KD_WRONG]},
    "q3": {"right": [s.format(name="fixed_kd_loss") for s in _KD_RIGHT],
           "wrong": [(s.format(name="fixed_kd_loss"), m) for s, m in _KD_WRONG]},
}
