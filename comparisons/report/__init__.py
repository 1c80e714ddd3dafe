"""Presentation of judged runs: text, Markdown and JSON reports, pictures, output files and
the progress line. Reads verdicts; computes none."""
