"""Loaders that a page can prime, so that the fields of its rows resolve synchronously.

A field resolved through a data loader is an awaitable per row and field: on a page of 50 rows
with three related objects that is 150 awaitables, and graphql-core then completes the page
asynchronously. The connection resolver of a page knows every key its rows refer to; it primes
the loader with them in one batch (the same single statement the loader would have run), and
the fields answer from what is loaded. A field whose key was not primed still loads through the
loader, as before: priming is an optimisation, never a different answer.
"""

from __future__ import annotations

import asyncio
from asyncio import Future
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from aiodataloader import DataLoader

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")


class PrimableLoader(DataLoader[K, V | None], Generic[K, V]):
    """A loader that remembers what it loaded, for synchronous reads.

    `memoize`: convert each value once per request. Only for values nothing can change during
    the request (frozen records); an ORM instance is the session's, and a mutation earlier in
    the same document may change it in place, so its conversion is made afresh at every read."""

    memoize: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict[K, V | None] = {}
        # converted values by (key, conversion): a page names the same people many times
        self._converted: dict[tuple[K, Callable[[V], object]], object] = {}

    async def fetch(self, keys: Sequence[K]) -> list[V | None]:
        """The values of `keys`, in key order (None for a miss)."""
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[K]) -> list[V | None]:
        values = await self.fetch(keys)
        self.loaded.update(zip(keys, values, strict=True))
        return values

    async def prime_many(self, keys: Iterable[K | None]) -> None:
        """Load `keys` now, in one batch (straight from `fetch`: the loader's per-key futures
        and scheduling would cost more than the statement)."""
        wanted = list({k for k in keys if k is not None and k not in self.loaded})
        if wanted:
            self.loaded.update(zip(wanted, await self.fetch(wanted), strict=True))

    def load(self, key: K) -> Future[V | None]:
        """The loader's `load`, answered from what was loaded when it was (primed or not)."""
        if key in self.loaded:
            future: Future[V | None] = asyncio.get_running_loop().create_future()
            future.set_result(self.loaded[key])
            return future
        return super().load(key)

    def resolve(self, key: K | None, convert: Callable[[V], R]) -> R | Awaitable[R | None] | None:
        """`convert(value)` at once when `key` is loaded (None for a miss or no key), else an
        awaitable of it (graphql-core awaits whatever a resolver returns)."""
        if key is None:
            return None
        if key in self.loaded:
            value = self.loaded[key]
            if value is None:
                return None
            if not self.memoize:
                return convert(value)
            memo = (key, convert)
            converted = self._converted.get(memo)
            if converted is None:
                converted = self._converted[memo] = convert(value)
            return converted  # type: ignore[return-value]
        return self._later(key, convert)

    async def _later(self, key: K, convert: Callable[[V], R]) -> R | None:
        value = await self.load(key)
        return convert(value) if value is not None else None
