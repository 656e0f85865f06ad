"""Composition root: settings, infrastructure wiring and the `servicecore` command line."""

from servicecore.interpreter import mend_ast_parse

mend_ast_parse()
