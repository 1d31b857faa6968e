"""What a document selects below the field being resolved (through fragments)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from schema.context import Info


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def selected_below(info: Info, *path: str) -> set[str]:
    """The field names selected at `path` below the current field: `selected_below(info, "edges",
    "node")` on a connection field gives the node's fields."""
    level: list[Selection] = [s for f in info.selected_fields for s in f.selections]
    for name in path:
        level = [s for f in _fields(level) if f.name == name for s in f.selections]
    return {f.name for f in _fields(level)}
