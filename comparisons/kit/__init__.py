"""The conformance kit for engine authors: the oracles, every check of a backend, the
scoreboard, and the pytest plugin that collects them as tests."""
