"""Reproducible performance measurements of servicecore (see bench/README.md).

Every script creates its own database on the chosen server, drops it at the end, prints its
figures next to a plain PostgreSQL INSERT+COMMIT yardstick and writes them, with the conditions
they were taken under, to bench/results/<name>-<server-kind>.json.
"""
