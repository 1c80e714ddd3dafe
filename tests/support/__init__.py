"""What the tests share (imported as ``support.…``; pytest puts tests/ on the path): running
the command line in-process (cli.py), the repository's and the tests' folders (paths.py), the
deliberately broken engines (mutants.py, stack_mutants.py), fake plugins (fake_backends.py) and
a headless browser for the explain page (browser.py)."""
