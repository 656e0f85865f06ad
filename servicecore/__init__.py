"""Composition root: settings, infrastructure wiring and the `servicecore` command line."""
