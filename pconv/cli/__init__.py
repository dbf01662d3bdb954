"""pconv.cli: the command line, `python -m pconv {train,evaluate,masks,download,pretrained,segment}`.

`main` parses the arguments (parser.py), runs one command (commands.py, pretrained.py, segment.py) and is
the one place that turns a user's error (`UsageError`, errors.py) into one line and exit
status 2.

Imports: every room below (pconv.pretrained, train, evaluation, nn, data, utils); never
`pconv.notebook` (pyproject.toml, [tool.importlinter]). Start with parser.py;
docs/architecture.md says how to add a command.
"""

from pconv.cli.parser import main

__all__ = [
    "main",
]
