"""Running backends on cases, comparing with the reference, rendering reports, the CLI."""

if __name__ != "backprop_crosscheck.comparisons":  # one import name, inside the checkout and out
    raise ImportError(
        f"import backprop_crosscheck.comparisons, not {__name__}: comparisons/ is a subpackage of "
        "backprop_crosscheck (a second import name would load its classes twice)"
    )
