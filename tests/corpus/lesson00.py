"""Lesson 00's corpus: value answers (there is no function exercise)."""
import torch

PRELUDE = "import torch\n"

_L = torch.tensor([3.0, 1.0, 0.2])

CORPUS = {
    "q1": {
        "right": [{"probs": torch.softmax(_L, dim=0)},
                  {"probs": torch.softmax(_L, dim=-1)},
                  {"probs": _L.exp() / _L.exp().sum()},
                  {"probs": torch.nn.functional.softmax(_L, 0).numpy()}],
        "wrong": [({"probs": _L.exp()}, "exp"),
                  ({"probs": _L / _L.sum()}, "divides the logits"),
                  ({"probs": torch.tensor([1.0, 0.0, 0.0])}, "one-hot"),
                  ({"probs": torch.log_softmax(_L, 0)}, "wrong values"),
                  ({"probs": torch.softmax(_L / 2, 0)}, "wrong values"),
                  ({"probs": torch.softmax(_L, 0).tolist()}, "should be a torch tensor")],
    },
    "q2": {
        "right": [{"answer": "b"}, {"answer": " B "}, {"answer": "(b)"}, {"answer": "b)"},
                  {"answer": "b."}],
        "wrong": [({"answer": "a"}, "weights"), ({"answer": "(c)"}, "human labels"),
                  ({"answer": "d"}, "one of the letters"), ({"answer": 2}, "one of the letters"),
                  ({"answer": None}, "one of the letters")],
    },
}
