"""`crosscheck sweep`: seeded random cases in shape families, split into shards across
processes or a Dask cluster, failures shrunk to a minimal case with a standalone script."""
