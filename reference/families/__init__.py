"""Seeded random cases in shape families, for the tests, the conformance kit and the sweep:
``family_case(family, member)`` draws the architecture from the family alone and the numbers
from both (draw.py); every fifth family is a layer stack (stacks.py)."""
