"""Subcommands of the `ketamon` command line. Each module has `register(sub)`
that adds its parser with `set_defaults(func=...)`; func(args) returns the exit code."""
