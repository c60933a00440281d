"""Schema errors of a scenario file, said the way a person fixes them: every one, in file order.

One message per node that is wrong (a step, a top-level key), with where, what was expected and,
for a misspelled step kind, key or peer name, the nearest right one ("did you mean 'offer'?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import jsonschema

from ..errors import ScenarioError
from .loader import Located

__all__ = ["did_you_mean", "raise_all", "schema_errors"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'offer'?`` when one of ``choices`` is close to ``word``; else nothing."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


def raise_all(problems: list[ScenarioError]) -> None:
    """Raise one error carrying every problem, in file order (none: return)."""
    if not problems:
        return
    problems = sorted({str(p): p for p in problems}.values(), key=lambda p: (p.line or 0, p.column or 0))
    first = problems[0]
    message = first.message + "".join(f"\n{p}" for p in problems[1:])
    error = ScenarioError(message, first.path, first.line, first.column)
    error.problems = problems
    raise error


def _node_key(path: tuple[Any, ...]) -> tuple[Any, ...]:
    return path[:2] if path[:1] == ("steps",) and len(path) >= 2 else path[:1]


def schema_errors(located: Located, schema: dict[str, Any]) -> list[ScenarioError]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    groups: dict[tuple[Any, ...], list[jsonschema.ValidationError]] = {}
    for error in validator.iter_errors(located.data):
        groups.setdefault(_node_key(tuple(error.absolute_path)), []).append(error)
    problems = []
    kinds = list(schema["$defs"]["steps"])
    for errors in groups.values():
        unknown = [e for e in errors if e.validator == "additionalProperties" and isinstance(e.instance, dict)]
        for error in unknown:  # misspelled step kinds and keys: each named, with the nearest right one
            path = tuple(error.absolute_path)
            known = list(error.schema.get("properties", {}))
            for key in [k for k in error.instance if k not in known]:
                problems.append(located.error(_unknown(path, key, known, kinds), (*path, key)))
        rest = [e for e in errors if e not in unknown]
        if rest:
            # The deepest error says the most; among equals, the first in the file.
            error = max(rest, key=lambda e: (len(e.absolute_path), -located.position(tuple(e.absolute_path))[0]))
            error = jsonschema.exceptions.best_match([error]) or error
            node_path = tuple(error.absolute_path)
            problems.append(located.error(_describe(error, node_path), node_path))
    return problems


def _where(path: tuple[Any, ...]) -> str:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        kind = path[2] if len(path) > 2 else None
        return f"step {path[1] + 1}{f' ({kind})' if kind else ''}: "
    return ".".join(str(p) for p in path) + ": " if path else ""


def _unknown(path: tuple[Any, ...], key: str, known: list[str], kinds: list[str]) -> str:
    if len(path) == 2 and path[0] == "steps":
        return f"{_where(path)}unknown step kind {key!r}{did_you_mean(key, kinds)}; the kinds: {', '.join(kinds)}"
    return f"{_where(path)}unknown key {key!r}{did_you_mean(key, known)}; the keys here: {', '.join(known)}"


def _describe(error: jsonschema.ValidationError, node_path: tuple[Any, ...]) -> str:
    message = error.message
    if error.validator == "oneOf" and error.context:
        message = "; or ".join(sorted({sub.message for sub in error.context}))
    if error.validator == "pattern":
        # A regular expression helps nobody: say what the value should look like.
        described = next(
            (
                e.schema.get("description")
                for e in [error, *_ancestors(error)]
                if isinstance(e.schema, dict) and e.schema.get("description")
            ),
            None,
        )
        message = f"{error.instance!r} is not valid" + (f"; expected {described}" if described else "")
    return f"{_where(node_path)}{message}"


def _ancestors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    out = []
    parent = error.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out
