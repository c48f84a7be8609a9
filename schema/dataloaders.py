"""One dataloader per request, kind and module (DESIGN: dataloaders built once per request).

Why one helper: every schema module batches its nested lists through loaders kept in the request's
`info.context.cache`; the key is namespaced by module so two modules can never share a loader by
picking the same name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types import Info

K = TypeVar("K")
V = TypeVar("V")


def request_loader(info: Info, namespace: str, name: str,
                   load: Callable[[list[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
    """The request's loader `namespace.name`, created with `load` on first use."""
    cache: dict[str, Any] = info.context.cache
    key = f"{namespace}.{name}"
    if key not in cache:
        cache[key] = DataLoader(load_fn=load)
    return cache[key]
