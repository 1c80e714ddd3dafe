"""Where things are: the tests' folder (its data: cases/, corpus/, data/, known-divergences/)
and the repository root."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
