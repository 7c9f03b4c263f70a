"""``course grade``: grade submitted notebooks, safely.

    course grade --lesson 00 --release lessons/ --submissions submitted/ --out grades/ \\
                 [--solutions solutions/] [--workers 2] [--no-sandbox]

Before grading anything, the released notebook itself is run through the sandbox once (a
self-test): if that fails, nothing is graded and the reason is printed. Then, for each
submitted notebook (``submitted/<learner>.ipynb`` or ``submitted/<learner>/<lesson>.ipynb``):

1. it is read and validated (nbformat); a file that is not a notebook, an empty notebook or
   a notebook of another lesson is reported and scored 0 -- never a crash of the run;
2. every cell that is not an exercise answer is restored from the release (by cell id, with
   a SHA-256 checksum), so edited instructions or checks are undone, and reported;
3. it runs in a bubblewrap sandbox (:mod:`.sandbox`, :mod:`.runner`): no network, its own
   process tree, only the system, Python and ``course_utils`` visible (read-only), a private
   ``/tmp``, per-cell and total time limits, memory and process limits, capped output; the
   answers are extracted as JSON after each exercise (:mod:`.in_kernel`);
4. a fresh judge process (:mod:`.judge`) rebuilds the answers (:mod:`.encoding`: exact types
   only, never pickle), runs the lesson's checks -- the same messages as ``check()`` -- and
   the hidden checks from the solutions' ``hidden-check`` cells;
5. ``grades.csv``, ``feedback/<learner>.md`` and ``report.md`` are written atomically
   (:mod:`.report`).

A failure that is not the learner's (the sandbox or the kernel could not start, the judge
failed) gives the status ``error``: empty scores, first in the report with the reason, and a
non-zero exit code -- never a silent zero. The pipeline is :mod:`.pipeline`.
"""
from .pipeline import DEFAULT_LIMITS, GradingSetupError, grade, main

__all__ = ["grade", "main", "DEFAULT_LIMITS", "GradingSetupError"]
