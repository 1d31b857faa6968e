"""Scalars beyond GraphQL's own, given to the schema through its `scalar_map`."""

from __future__ import annotations

from typing import Any, NewType

import strawberry

# JavaScript numbers hold integers exactly up to 2^53: a larger one would reach a client altered.
_LIMIT = 2**53 - 1

BigInt = NewType("BigInt", int)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -_LIMIT <= value <= _LIMIT:
        raise ValueError(f"BigInt cannot represent {value!r}: a whole number within ±(2^53 - 1)")
    return value


SCALARS = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=_whole,
        parse_value=_whole,
        description="A whole number beyond the 32 bits of an Int (a JSON number, exact within "
        "±(2^53 - 1)), e.g. a sum of prices in cents.",
    )
}
