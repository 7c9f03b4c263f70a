"""Clocks for the API: the wall clock, or a simulated one a traffic generator moves.

The server asks one clock for the time: the rate limits of :class:`~.keys.KeyRing` count
requests in a window of that clock, and each log row's ``ts`` is that clock's time. By
default it is the real one (:class:`WallClock`). A :class:`SimClock` is moved by hand
(``set``/``advance``): shared by the server and a traffic generator
(:mod:`course_utils.traffic`), hours of simulated traffic take seconds, and rate limits
follow simulated time. Taught in lesson 09.
"""
from __future__ import annotations

import threading
import time

__all__ = ["WallClock", "SimClock", "DAY", "HOUR"]

HOUR = 3600.0
DAY = 24 * HOUR


class WallClock:
    """The real time: ``clock()`` is ``time.time()`` (seconds since 1970)."""
    simulated = False

    def __call__(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "WallClock()"


class SimClock:
    """A simulated clock: ``clock()`` is the time it was last set to (seconds).

    ``start`` is the simulated time at creation (default 0, a Monday at midnight for
    :func:`course_utils.traffic` and the time-of-day features). It never runs backwards:
    ``set`` to an earlier time is an error. Thread-safe.
    """
    simulated = True

    def __init__(self, start: float = 0.0):
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def set(self, t: float) -> float:
        """Move the clock to ``t`` (not earlier than now); returns ``t``."""
        t = float(t)
        with self._lock:
            if t < self._now - 1e-9:
                raise ValueError(f"A simulated clock does not run backwards: it is at "
                                 f"{self._now:.3f} s, asked for {t:.3f} s.")
            self._now = max(self._now, t)
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward; returns the new time."""
        if seconds < 0:
            raise ValueError(f"advance() takes a duration >= 0, not {seconds}.")
        with self._lock:
            self._now += float(seconds)
            return self._now

    def __repr__(self) -> str:
        return f"SimClock(t={self():.1f} s)"
