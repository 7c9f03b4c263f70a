"""Lesson 06's corpus: masked forward KL, top-k KL, the fixed token-level loss."""

PRELUDE = "import torch\nimport torch.nn.functional as F\n"

CORPUS = {
    "q1": {
        "right": [
            '''
def masked_forward_kl(student_logits, teacher_logits, mask):
    log_s = F.log_softmax(student_logits, dim=-1)
    log_t = F.log_softmax(teacher_logits, dim=-1)
    per_position = (log_t.exp() * (log_t - log_s)).sum(-1)
    mask = mask.float()
    return (per_position * mask).sum() / mask.sum()
''',
            '''
def masked_forward_kl(student_logits, teacher_logits, mask):
    kl = F.kl_div(F.log_softmax(student_logits, -1), F.log_softmax(teacher_logits, -1),
                  reduction="none", log_target=True).sum(-1)
    return kl[mask].mean()
''',
            '''
def masked_forward_kl(s, t, mask):
    p = torch.softmax(t[mask], dim=-1)
    return (p * (torch.log_softmax(t[mask], -1) - torch.log_softmax(s[mask], -1))).sum(-1).mean()
''',
        ],
        "wrong": [
            ('''
def masked_forward_kl(s, t, mask):
    p = F.softmax(t, -1)
    return (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1).mean()
''', "padding"),
            ('''
def masked_forward_kl(s, t, mask):
    q = F.softmax(s, -1)
    per = (q * (F.log_softmax(s, -1) - F.log_softmax(t, -1))).sum(-1)
    return per[mask].mean()
''', "reverse KL"),
            ('''
def masked_forward_kl(s, t, mask):
    p = F.softmax(t, -1)
    per = (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1)
    return (per * mask).mean()
''', "all\\* positions"),
            ('''
def masked_forward_kl(s, t, mask):
    p = F.softmax(t, -1)
    per = (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).mean(-1)
    return per[mask].mean()
''', "vocabulary too"),
            ('''
def masked_forward_kl(s, t, mask):
    p = F.softmax(t, -1)
    per = (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1) * mask
    return (per.sum(-1) / mask.sum(-1)).mean()
''', "each sequence first|masked_forward_kl\\("),
            ('''
def masked_forward_kl(s, t, mask):
    p = F.softmax(t, -1)
    per = (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1)
    return per[~mask].mean()
''', "masked_forward_kl\\("),
        ],
    },
    "q2": {
        "right": [
            '''
def topk_forward_kl(student_logits, teacher_logits, k):
    values, indices = teacher_logits.topk(k, dim=-1)
    p = F.softmax(values, dim=-1)
    log_q = F.log_softmax(student_logits, dim=-1).gather(-1, indices)
    return (p * (p.log() - log_q)).sum(-1).mean()
''',
            '''
def topk_forward_kl(s, t, k):
    probs, idx = F.softmax(t, -1).topk(k, -1)
    probs = probs / probs.sum(-1, keepdim=True)
    log_q = torch.gather(torch.log_softmax(s, -1), -1, idx)
    return (probs * (probs.log() - log_q)).sum(-1).mean()
''',
            '''
def topk_forward_kl(s, t, k):
    vals, idx = torch.topk(t, k)
    log_p = vals - torch.logsumexp(vals, -1, keepdim=True)
    log_q = s.log_softmax(-1).gather(-1, idx)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()
''',
        ],
        "wrong": [
            ('''
def topk_forward_kl(s, t, k):
    p = F.softmax(t, -1)
    vals, idx = p.topk(k, -1)
    log_q = F.log_softmax(s, -1).gather(-1, idx)
    return (vals * (vals.log() - log_q)).sum(-1).mean()
''', "do not add up to 1"),
            ('''
def topk_forward_kl(s, t, k):
    vals, idx = t.topk(k, -1)
    p = F.softmax(vals, -1)
    log_q = F.log_softmax(s.gather(-1, idx), -1)
    return (p * (p.log() - log_q)).sum(-1).mean()
''', "\\*teacher\\* only"),
            ('''
def topk_forward_kl(s, t, k):
    p = F.softmax(t, -1)
    return (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1).mean()
''', "full forward KL"),
            ('''
def topk_forward_kl(s, t, k):
    vals, idx = s.topk(k, -1)
    p = F.softmax(t.gather(-1, idx), -1)
    log_q = F.log_softmax(s, -1).gather(-1, idx)
    return (p * (p.log() - log_q)).sum(-1).mean()
''', "\\*student's\\* top k"),
            ('''
def topk_forward_kl(s, t, k):
    vals, idx = t.topk(k, -1)
    p = F.softmax(vals, -1)
    log_q = F.log_softmax(s, -1).gather(-1, idx)
    return (p * (p.log() - log_q)).sum()
''', "summed over the positions"),
            ('''
def topk_forward_kl(s, t, k):
    vals, idx = t.topk(k, -1)
    p = F.softmax(vals, -1)
    q = F.softmax(s, -1).gather(-1, idx)
    return (q * (q.log() - p.log())).sum(-1).mean()
''', "topk_forward_kl\\("),
        ],
    },
    "q3": {
        "right": [
            "def kd_loss_fixed(student_logits, teacher_logits):\n"
            "    log_p_s = F.log_softmax(student_logits, dim=-1)\n    p_t = F.softmax(teacher_logits, dim=-1)\n"
            "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n",
            "def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=2)\n    p_t = F.softmax(t, dim=2)\n"
            "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n",
            "def kd_loss_fixed(s, t):\n    v = s.shape[-1]\n"
            "    return F.kl_div(F.log_softmax(s.reshape(-1, v), -1), F.softmax(t.reshape(-1, v), -1), reduction='batchmean')\n",
        ],
        "wrong": [
            ("def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=1)\n    p_t = F.softmax(t, dim=1)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n", "still the buggy"),
            ("def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=-1)\n    p_t = F.softmax(t, dim=1)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n", "teacher's softmax still"),
            ("def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=1)\n    p_t = F.softmax(t, dim=-1)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n", "student's log-softmax still"),
            ("def kd_loss_fixed(s, t):\n    q = F.softmax(s, -1)\n"
             "    return (q * (q.log() - F.log_softmax(t, -1))).sum(-1).mean()\n", "swapped the direction"),
            ("def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=0)\n    p_t = F.softmax(t, dim=0)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean()\n", "kd_loss_fixed\\("),
            ("def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=-1)\n    p_t = F.softmax(t, dim=-1)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum()\n", "kd_loss_fixed\\("),
            ("def kd_loss_fixed(s, t):\n    log_p_s = F.log_softmax(s, dim=-1)\n    p_t = F.softmax(t, dim=-1)\n"
             "    return (p_t * (p_t.log() - log_p_s)).sum(-1).mean().item()\n", "should be a torch tensor"),
        ],
    },
}
