"""Papermill-style parameters: a notebook's `parameters`-tagged cell, overridden by an injected cell.

Every notebook opens with one code cell tagged `parameters` that holds its knobs (`SMOKE`,
`STEPS`, `SIZE`, ...). `python -m pconv.notebook.runner NOTEBOOK -p STEPS=300` overrides one
the way papermill does: a cell setting the new values is inserted right after the tagged
cell, so the notebook's own defaults still run first and the executed copy shows both. A
name the cell does not assign is refused, so a typo cannot pass silently.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

__all__ = ["inject_parameters"]


def _parameter_names(source: str, notebook: str) -> list[str]:
    """Names assigned at the top level of a parameters cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"{notebook}: the parameters cell is not plain Python ({err})") from None
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def inject_parameters(nb: Any, parameters: Mapping[str, Any], name: str = "notebook") -> None:
    """Insert a cell setting `parameters` right after the `parameters`-tagged cell of `nb` (in place).

    Args:
        nb: an nbformat notebook.
        parameters: NAME -> value; values must be Python literals (numbers, strings, bools,
            None, and tuples, lists and dicts of those), since they are written as source.
        name: the notebook's name, for error messages.

    Raises:
        ValueError: the notebook has no `parameters` cell, a name is not one of its
            parameters, or a value is not a literal.
    """
    if not parameters:
        return
    index = next(
        (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])),
        None,
    )
    if index is None:
        raise ValueError(f"{name} has no code cell tagged 'parameters' to override; set the values in the notebook")
    known = _parameter_names(nb.cells[index].source, name)
    lines = ["# Parameters injected by pconv.notebook.runner"]
    for key, value in parameters.items():
        if key not in known:
            raise ValueError(f"{name}: {key!r} is not a parameter of this notebook; its parameters are {known}")
        text = repr(value)
        try:
            same = ast.literal_eval(text) == value
        except (ValueError, SyntaxError):
            same = False
        if not same:
            raise ValueError(f"{name}: parameter {key} = {text} is not a Python literal (number, string, list, ...)")
        lines.append(f"{key} = {text}")
    import nbformat  # a test extra (pyproject.toml), as nbclient: needed only when a notebook is run

    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
