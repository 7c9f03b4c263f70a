"""Mutation corpora: realistic wrong answers and differently written right answers, per lesson.

``tests/corpus/lessonNN.py`` defines ``PRELUDE`` (the lesson's imports, as the learner has them)
and ``CORPUS = {"q1": {"right": [...], "wrong": [(answer, "phrase"), ...]}}``. An answer is
the source code a learner would write (a function exercise) or a dict of values (a value
exercise). ``phrase`` is a regular expression the check's message must contain: the name of
the mistake, or the input it fails on. ``tests/test_corpus.py`` runs every entry.
"""
