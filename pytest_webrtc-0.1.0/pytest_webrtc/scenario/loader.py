"""Load YAML keeping the line and column of every node, so errors say ``file:line:column``.

``load_located(text, path)`` returns the plain Python data and a map from each
node's path (a tuple of keys and indices) to its 1-based ``(line, column)``.
Duplicate mapping keys are refused: YAML would silently keep the last one.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import ScenarioError

__all__ = ["Located", "load_located"]

Path = tuple[Any, ...]


class Located:
    """Parsed data plus the position of every node in the source."""

    def __init__(self, data: Any, positions: dict[Path, tuple[int, int]], path: str) -> None:
        self.data, self.positions, self.path = data, positions, path

    def position(self, node_path: Path) -> tuple[int, int]:
        """The position of ``node_path``, or of its nearest ancestor that has one."""
        for cut in range(len(node_path), -1, -1):
            found = self.positions.get(tuple(node_path[:cut]))
            if found is not None:
                return found
        return 1, 1

    def error(self, message: str, node_path: Path = ()) -> ScenarioError:
        line, column = self.position(node_path)
        return ScenarioError(message, self.path, line, column)


def load_located(text: str, path: str = "<string>") -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or "invalid YAML"
        opened = exc.context_mark
        context = f" ({exc.context}" if exc.context else ""
        if context and opened is not None and exc.problem_mark is not None and opened.line != exc.problem_mark.line:
            context += f" that opened at line {opened.line + 1}, column {opened.column + 1}"
        context += ")" if context else ""
        raise ScenarioError(f"YAML syntax error: {problem}{context}", path, line, column) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {exc}", path) from None
    positions: dict[Path, tuple[int, int]] = {}
    constructor = yaml.SafeLoader("")
    data = _convert(node, (), positions, constructor, path) if node is not None else None
    return Located(data, positions, path)


def _convert(
    node: yaml.Node, here: Path, positions: dict[Path, tuple[int, int]], constructor: yaml.SafeLoader, path: str
) -> Any:
    positions[here] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if key in out:
                line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                raise ScenarioError(f"duplicate key {key!r}", path, line, column)
            out[key] = _convert(value_node, (*here, key), positions, constructor, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*here, i), positions, constructor, path) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
