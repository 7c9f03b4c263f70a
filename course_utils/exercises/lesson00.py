"""Questions of lesson 00 (welcome): a warm-up to learn how checks work."""
import torch

from .core import ChoiceProblem, EqualityProblem, ThoughtProblem, ____

__all__ = ["q1", "q2", "q3", "____"]

_LOGITS = torch.tensor([3.0, 1.0, 0.2])

q1 = EqualityProblem(
    name="q1",
    vars=["probs"],
    expected=lambda: {"probs": torch.softmax(_LOGITS, dim=0)},
    mistakes=[
        (lambda: {"probs": _LOGITS.exp()}, "`probs` holds exp(logits), but they do not sum to 1 yet: "
                                           "divide by their sum (that is what softmax does)."),
        (lambda: {"probs": _LOGITS / _LOGITS.sum()}, "`probs` divides the logits by their sum. "
                                                     "Softmax exponentiates first."),
        (lambda: {"probs": torch.tensor([1.0, 0.0, 0.0])}, "`probs` is a one-hot vector: that is the "
                                                            "argmax, the hard label. We want all three probabilities."),
    ],
    hints=["`torch.softmax(tensor, dim=0)` turns a vector of logits into probabilities.",
           "Build the tensor with `torch.tensor([3.0, 1.0, 0.2])`."],
    solution="```python\nprobs = torch.softmax(torch.tensor([3.0, 1.0, 0.2]), dim=0)\n```",
    correct_message="the probabilities are about 0.84, 0.11 and 0.05. The small ones are the "
                    "teacher's *dark knowledge*: what it thinks the input resembles besides its answer.",
)

q2 = ChoiceProblem(
    name="q2",
    var="answer",
    answer="b",
    options="abc",
    mistakes={"a": "(a) is training on the teacher's *weights*; an API never exposes them.",
              "c": "(c) is ordinary supervised learning on human labels: no teacher involved."},
    hints="Which of the three needs nothing but the answers a model returns to questions?",
    solution="`answer = \"b\"`: sending prompts to a model's API and training on its completions is "
             "distillation through the API (sequence-level, black-box distillation).",
)

q3 = ThoughtProblem(
    name="q3",
    solution="A provider sees every request: the prompts, how many, how fast, from which keys and "
             "accounts, and which options (for example `logprobs`). Lesson 09 turns those logs into "
             "a detector; lessons 10 and 11 add watermarks and fingerprints that survive into a student.",
)
