"""Running backends on cases, comparing with the reference, rendering reports, the CLI."""
