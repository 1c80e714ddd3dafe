"""The cases: ``Case`` (one network, its data, initial parameters and update rule), the case
file read and written (file.py) and validated field by field (fields.py, layer_fields.py,
values.py), the names reports give neurons (names.py), the one-step simplifications the sweep
shrinks a failing case by (smaller.py), and the built-in case files (*.toml, here)."""
