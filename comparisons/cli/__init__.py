"""The `crosscheck` command line: parser.py reads the arguments, commands.py carries each
command out."""

from backprop_crosscheck.comparisons.cli.commands import main

__all__ = ["main"]
