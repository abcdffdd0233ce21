"""The ``capacity`` command line: thin commands over the library."""

from capacity.cli.app import app, main

__all__ = ["app", "main"]
