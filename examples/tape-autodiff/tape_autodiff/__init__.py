"""A tiny reverse-mode autodiff engine on NumPy arrays (the example plugin's "framework")."""

from tape_autodiff.engine import Var, relu, sigmoid, tanh

__all__ = ["Var", "relu", "sigmoid", "tanh"]
