"""Lesson 04's corpus: attention maps, normalised distances, regressor widths."""
import numpy as np

PRELUDE = "import torch\nimport torch.nn.functional as F\n"

CORPUS = {
    "q1": {
        "right": [
            "def attention_map_1d(feat, p=2.0):\n    return F.normalize(feat.abs().pow(p).mean(dim=1), dim=1)\n",
            "def attention_map_1d(feat, p=2.0):\n    a = (feat.abs() ** p).sum(1)\n"
            "    return a / a.norm(dim=1, keepdim=True)\n",
            "def attention_map_1d(feat, p=2.0):\n    a = torch.mean(torch.abs(feat) ** p, dim=1)\n"
            "    return a / torch.sqrt((a ** 2).sum(-1, keepdim=True))\n",
        ],
        "wrong": [
            ("def attention_map_1d(feat, p=2.0):\n    return F.normalize(feat.abs().pow(p).mean(dim=2), dim=1)\n",
             "dimension 2"),
            ("def attention_map_1d(feat, p=2.0):\n    return feat.abs().pow(p).mean(dim=1)\n", "not normalised"),
            ("def attention_map_1d(feat, p=2.0):\n    return F.normalize(feat.pow(p).mean(dim=1), dim=1)\n",
             "abs\\(\\)"),
            ("def attention_map_1d(feat, p=2.0):\n    return torch.softmax(feat.abs().pow(p).mean(dim=1), dim=1)\n",
             "softmax"),
            ("def attention_map_1d(feat, p=2.0):\n    return F.normalize(feat.abs().mean(dim=1).pow(p), dim=1)\n",
             "channel \\*mean\\*"),
            ("def attention_map_1d(feat, p=2.0):\n    return F.normalize((feat ** 2).mean(dim=1), dim=1)\n",
             "ignores `p`"),
            ("def attention_map_1d(feat, p=2.0):\n    a = feat.abs().pow(p).mean(dim=1)\n    return a / a.sum(1, keepdim=True)\n",
             "L1 norm"),
            ("def attention_map_1d(feat, p=2.0):\n    feat.abs_()\n    return F.normalize(feat.pow(p).mean(dim=1), dim=1)\n",
             "changed its argument `feat`"),
        ],
    },
    "q2": {
        "right": [
            "def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb)\n    n = len(emb)\n"
            "    return d / (d.sum() / (n * (n - 1)))\n",
            "def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb)\n    return d / torch.pdist(emb).mean()\n",
            "def normalized_distances_fn(emb):\n    d = (emb[:, None, :] - emb[None, :, :]).pow(2).sum(-1).sqrt()\n"
            "    off = ~torch.eye(len(emb), dtype=torch.bool)\n    return d / d[off].mean()\n",
        ],
        "wrong": [
            ("def normalized_distances_fn(emb):\n    return torch.cdist(emb, emb)\n", "raw distances"),
            ("def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb)\n    return d / d.mean()\n", "diagonal"),
            ("def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb) ** 2\n    n = len(emb)\n"
             "    return d / (d.sum() / (n * (n - 1)))\n", "squared"),
            ("def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb)\n    return d / d.max()\n", "largest"),
            ("def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb)\n    return d / d.mean(1, keepdim=True)\n",
             "each row"),
            ("def normalized_distances_fn(emb):\n    d = torch.cdist(emb, emb)\n    n = len(emb)\n"
             "    return d / (d.sum() / (n * n - 1))\n", "normalized_distances_fn\\("),
            ("def normalized_distances_fn(emb):\n    emb = F.normalize(emb, dim=1)\n    d = torch.cdist(emb, emb)\n"
             "    return d / torch.pdist(emb).mean()\n", "normalized_distances_fn\\("),
        ],
    },
    "q3": {
        "right": [{"regressor_in": 8, "regressor_out": 64},
                  {"regressor_in": np.int64(8), "regressor_out": 64.0}],
        "wrong": [({"regressor_in": 64, "regressor_out": 8}, "student's"),
                  ({"regressor_in": 8, "regressor_out": 8}, "64 channels"),
                  ({"regressor_in": "8", "regressor_out": 64}, "should be a number")],
    },
}
