"""Questions of lesson 12 (the rules): Fisher's combined p-value, a rule's false-positive rate
on clean suspects, and terms-of-service cases classified against the quoted terms."""
from __future__ import annotations

import math

from ..dossier import false_positive_rate as _fpr
from ..dossier import fisher_combine as _fisher
from ..sources import TOS_CASES as _CASES
from ..sources import VERDICTS as _VERDICTS
from .core import (INFO, CustomProblem, FunctionProblem, Incorrect, Outcome, ThoughtProblem,
                   describe, show, ____)

__all__ = ["q1", "q2", "q3", "q4", "____"]


# --------------------------------------------------------------------------------------
# q1: Fisher's method
# --------------------------------------------------------------------------------------
def _cases_q1():
    return [(([0.04, 0.2, 0.5],), {}),
            (([0.01, 0.03],), {}),
            (([1e-6, 0.9, 0.8, 0.5],), {}),
            (([0.05, 0.05, 0.05, 0.05, 0.05],), {}),
            (([0.3],), {}),
            (([0.6, 0.7, 0.9],), {}),
            (([1.0, 1.0],), {})]


def _chi2_sf(x, dof):
    from scipy.stats import chi2
    return float(chi2.sf(x, dof))


def _stat(p):
    return -2.0 * sum(math.log(v) for v in p)


def _k_dof(p):
    return _chi2_sf(_stat(p), len(p))


def _no_two(p):
    return _chi2_sf(-sum(math.log(v) for v in p), 2 * len(p))


def _statistic(p):
    return _stat(p)


def _product(p):
    return float(math.prod(p))


def _log10(p):
    return _chi2_sf(-2.0 * sum(math.log10(v) for v in p), 2 * len(p))


def _min_p(p):
    return float(min(p))


def _bonferroni(p):
    return min(1.0, len(p) * min(p))


def _cdf(p):
    return 1.0 - _fisher(p)


q1 = FunctionProblem(
    name="q1", var="fisher_combine", reference=_fisher, cases=_cases_q1, rtol=1e-6, atol=1e-12,
    mistakes=[
        (_k_dof, "you used k degrees of freedom: with k p-values, -2 Σ ln p follows a "
                 "chi-squared with **2k** degrees of freedom (each -2 ln p is chi-squared with 2)."),
        (_no_two, "you left out the factor 2: the statistic is **-2** Σ ln p."),
        (_statistic, "you returned the statistic X = -2 Σ ln p; the combined *p-value* is the "
                     "chance of a statistic at least that large, P(χ²₂ₖ ≥ X)."),
        (_product, "the product of the p-values is not a p-value (it shrinks with every test "
                   "added, even when all are null): turn it into one with the chi-squared tail."),
        (_log10, "you took log10; Fisher's statistic uses the natural log (`math.log`, `np.log`)."),
        (_min_p, "you returned the smallest p-value: that ignores the other tests and is not "
                 "valid after looking at k tests (it is what Bonferroni corrects)."),
        (_bonferroni, "that is Bonferroni (k × min p), the alternative we compare with; this "
                      "question asks for Fisher's method."),
        (_cdf, "you returned P(χ² ≤ X), the lower tail: small p-values give a large X, and the "
               "combined p-value is the *upper* tail."),
    ],
    hints=["X = -2 Σ ln pᵢ; under k independent nulls X ~ χ² with 2k degrees of freedom.",
           "`scipy.stats.chi2.sf(X, 2 * len(pvalues))` is the upper tail."],
    solution="```python\nfrom scipy.stats import chi2\n\ndef fisher_combine(pvalues):\n"
             "    x = -2 * sum(math.log(p) for p in pvalues)\n"
             "    return chi2.sf(x, 2 * len(pvalues))\n```",
    correct_message="Fisher's method: several weak signals can add up to a strong one, if the "
                    "tests are independent.",
)


# --------------------------------------------------------------------------------------
# q2: the false-positive rate of a rule
# --------------------------------------------------------------------------------------
def _cases_q2():
    return [(([0.2, 0.004, 0.5, 0.01, 0.9, 0.03, 0.001, 0.7],), {"alpha": 0.01}),
            (([0.05, 0.04, 0.06, 0.5, 0.05],), {"alpha": 0.05}),
            (([0.3, 0.8, 0.6],), {"alpha": 0.01}),
            (([0.001, 0.002, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],), {"alpha": 0.1}),
            (([0.02],), {"alpha": 0.05})]


def _le(p, alpha):
    return sum(v <= alpha for v in p) / len(p)


def _cleared(p, alpha):
    return sum(v >= alpha for v in p) / len(p)


def _count(p, alpha):
    return sum(v < alpha for v in p)


def _plus_one(p, alpha):
    return sum(v < alpha for v in p) / (len(p) + 1)


def _alpha(p, alpha):
    return alpha


def _mean_p(p, alpha):
    return sum(p) / len(p)


q2 = FunctionProblem(
    name="q2", var="false_positive_rate", reference=_fpr, cases=_cases_q2,
    mistakes=[
        (_le, "you flagged p = alpha too: the rule flags a suspect when its combined p-value "
              "is *below* alpha (`p < alpha`)."),
        (_cleared, "you returned the share of clean suspects the rule *clears*; the "
                   "false-positive rate is the share it flags."),
        (_count, "you returned how many clean suspects are flagged; the rate is that count "
                 "divided by the number of clean suspects."),
        (_plus_one, "divide by the number of clean suspects, not one more."),
        (_alpha, "you returned alpha, the rate the rule *promises* under its null; the question "
                 "asks what it *does* on these clean suspects."),
        (_mean_p, "the mean p-value is not a rate: count the clean suspects with p < alpha."),
    ],
    hints=["A clean suspect flagged by the rule is a false positive.",
           "`sum(p < alpha for p in clean_pvalues) / len(clean_pvalues)`."],
    solution="```python\ndef false_positive_rate(clean_pvalues, alpha):\n"
             "    flagged = [p < alpha for p in clean_pvalues]\n"
             "    return sum(flagged) / len(flagged)\n```",
    correct_message="measured on suspects known to be clean, never assumed.",
)


# --------------------------------------------------------------------------------------
# q3: terms-of-service cases
# --------------------------------------------------------------------------------------
def _check_verdicts(verdicts):
    if not isinstance(verdicts, dict):
        raise Incorrect(f"`verdicts` should be a dict from case id to a verdict, not "
                        f"{describe(verdicts)}.")
    ids = [c["id"] for c in _CASES]
    missing = [i for i in ids if i not in verdicts]
    extra = [k for k in verdicts if k not in ids]
    if extra:
        raise Incorrect(f"`verdicts` has keys that are not case ids: {extra[:3]}; the ids are "
                        f"{ids}.")
    if missing:
        raise Incorrect(f"give a verdict for every case: {missing} are missing.")
    wrong = []
    for case in _CASES:
        value = verdicts[case["id"]]
        if not isinstance(value, str) or value.strip().lower() not in _VERDICTS:
            raise Incorrect(f"the verdict of `{case['id']}` should be one of {list(_VERDICTS)} "
                            f"(a str), not {describe(value)}.")
        if value.strip().lower() != case["verdict"]:
            wrong.append(case)
    if wrong:
        lines = "\n".join(f"- `{c['id']}`: {c['why']}" for c in wrong[:3])
        more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
        raise Incorrect(f"{len(wrong)} of {len(_CASES)} verdicts differ from ours{more}. "
                        f"Think again about:\n{lines}")


q3 = CustomProblem(
    name="q3", vars=["verdicts"], checker=_check_verdicts,
    hints=["Read each case against the exact words quoted above: who agreed to which terms, "
           "was anything extracted automatically or around a limit, and is a model developed "
           "from the outputs that competes?",
           "'unclear' is a verdict: use it where the answer turns on a word the terms do not "
           "define, or on whether the person ever agreed to them."],
    solution="Our verdicts, with the reasons:\n\n" + "\n".join(
        f"- `{c['id']}`: **{c['verdict']}** -- {c['why']}" for c in _CASES),
    correct_message="the terms read closely. Whether they can be enforced is another question "
                    "(Henderson and Lemley, 2024).",
)


# --------------------------------------------------------------------------------------
# q4: the truth about the mystery suspects (shown only by solution())
# --------------------------------------------------------------------------------------
class _Truth(ThoughtProblem):
    """Pick your rule and your verdicts first; ``solution()`` then says what each mystery
    suspect really is (regenerated from the profile's sizes, nothing trained)."""

    def truth(self) -> dict:
        from ..dossier import mystery
        return {name: kind for name, kind, _ in mystery()}

    def solution(self) -> None:
        from ..dossier import DISTILLED
        lines = [f"- `{name}`: **{kind}** ({'distilled' if kind in DISTILLED else 'clean'})"
                 for name, kind in self.truth().items()]
        show(Outcome(INFO, "**The truth:**\n\n" + "\n".join(lines)))


q4 = _Truth(name="q4",
            hints=["Decide first: which suspects does your rule flag, and how sure are you of "
                   "each? Then call `q4.solution()`."])
