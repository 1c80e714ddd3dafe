"""Judging: numbers in, verdicts out — tolerances, comparison, diagnosis.

Nothing in this room starts a process, opens a file or prints: it takes the reference's numbers
and a backend's answer and says whether they agree, where not, and why.
"""
