"""The pluggy markers of the "lendline" project.

They live in their own tiny module so that plugin packages can import ``hookimpl`` without pulling in
the manager, the facade or any built-in plugin.
"""

from __future__ import annotations

import pluggy

PROJECT = "lendline"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]
