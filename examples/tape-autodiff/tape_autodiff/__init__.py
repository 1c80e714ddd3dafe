"""A tiny reverse-mode autodiff engine on NumPy arrays (the example plugin's "framework")."""

from tape_autodiff.engine import Var, mean, relu, sigmoid, sum, tanh

__all__ = ["Var", "mean", "relu", "sigmoid", "sum", "tanh"]
