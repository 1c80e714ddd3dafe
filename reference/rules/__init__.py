"""The rules a network is made of, each a table of rows derived by hand: the activations
(f, f′, f″), the losses (value, gradient, curvature), the optimizers' update rules, and the erf
NumPy lacks. Nothing here knows a network or a case."""
