"""pconv.cli."""

from pconv.cli.parser import main

__all__ = [
    "main",
]
