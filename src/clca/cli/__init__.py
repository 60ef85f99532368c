"""The `clca` command line: a thin layer over the stage packages (see `clca.cli.main`)."""
