"""A question module with a function exercise, for the grader's tests (not a lesson)."""
import torch

from course_utils.exercises.core import FunctionProblem


def _reference(logits, T):
    return torch.softmax(logits / T, dim=-1)


q1 = FunctionProblem(
    name="q1", var="soften", reference=_reference,
    cases=[((torch.tensor([3.0, 1.0, 0.2]), 2.0), {}), ((torch.tensor([[1.0, 2.0]]), 0.5), {})],
    mistakes=[(lambda logits, T: torch.softmax(logits, dim=-1), "you forgot to divide by T.")],
)


q2 = FunctionProblem(
    name="q2", var="sharpen", reference=lambda logits: torch.softmax(2 * logits, dim=-1),
    cases=[((torch.tensor([3.0, 1.0, 0.2]),), {}), ((torch.tensor([[1.0, 2.0]]),), {})],
)
