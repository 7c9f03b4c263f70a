"""Lesson 09's checks accept the solution and reject the stub and realistic wrong answers."""
import numpy as np
import pytest
from scipy.stats import shapiro

from course_utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED, ____
from course_utils.exercises.lesson09 import q1, q2, q3
from helpers import outcome, status


def logprob_share(log, account):
    rows = log[log.key_name == account]
    return float((rows.top_logprobs.fillna(0) > 0).mean())


def prada_w(vectors):
    d = [np.linalg.norm(vectors[:i] - vectors[i], axis=1).min() for i in range(1, len(vectors))]
    return float(shapiro(d).statistic)


def threshold_for(scores, labels, max_fpr=0.01):
    honest = np.sort(scores[labels == 0])[::-1]
    return np.nextafter(honest[int(np.floor(max_fpr * len(honest)))], np.inf)


def test_q1_logprob_share():
    assert status(q1, logprob_share=logprob_share) == CORRECT, outcome(q1, logprob_share=logprob_share)
    assert status(q1, logprob_share=____) == NOT_ATTEMPTED

    def stub(log, account):
        raise NotImplementedError()
    assert status(q1, logprob_share=stub) == NOT_ATTEMPTED
    assert "whole log" in outcome(q1, logprob_share=lambda log, a: float(
        (log.top_logprobs.fillna(0) > 0).mean())).message
    assert "notna" in outcome(q1, logprob_share=lambda log, a: float(
        log[log.key_name == a].top_logprobs.notna().mean())).message
    assert status(q1, logprob_share=lambda log, a: None) == INCORRECT


def test_q2_prada():
    assert status(q2, prada_w=prada_w) == CORRECT, outcome(q2, prada_w=prada_w)
    assert status(q2, prada_w=____) == NOT_ATTEMPTED

    def pvalue(v):
        d = [np.linalg.norm(v[:i] - v[i], axis=1).min() for i in range(1, len(v))]
        return float(shapiro(d).pvalue)
    assert "p-value" in outcome(q2, prada_w=pvalue).message

    def previous(v):
        return float(shapiro(np.linalg.norm(np.diff(v, axis=0), axis=1)).statistic)
    assert "just before" in outcome(q2, prada_w=previous).message


def test_q3_threshold():
    assert status(q3, threshold_for=threshold_for) == CORRECT, outcome(q3, threshold_for=threshold_for)
    assert status(q3, threshold_for=____) == NOT_ATTEMPTED

    def stub(scores, labels, max_fpr=0.01):
        raise NotImplementedError()
    assert status(q3, threshold_for=stub) == NOT_ATTEMPTED
    assert "honest accounts are flagged" in outcome(
        q3, threshold_for=lambda s, y, max_fpr=0.01: np.quantile(s[y == 0], 1 - max_fpr)).message
    assert "higher than it needs" in outcome(
        q3, threshold_for=lambda s, y, max_fpr=0.01: s.max() + 1).message
    assert status(q3, threshold_for=lambda s, y, max_fpr=0.01: None) == INCORRECT
    assert status(q3, threshold_for=lambda s, y, max_fpr=0.01: "0.5") == INCORRECT
    assert status(q3, threshold_for=3) == INCORRECT
