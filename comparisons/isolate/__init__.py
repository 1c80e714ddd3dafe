"""Isolation: where a backend's code runs, and the fences around it (a worker process per
backend, a time limit, captured output, a memory cap). What crosses back is plain numbers and
messages; the judging happens in the parent (comparisons.judge)."""
