"""Built-in plugins, registered by name. Each lives in its own module with its settings dataclass.

Adding one: write the module with a ``plugin = PluginDefinition(...)`` and list it here. Built-ins
still need enabling in ``plugins.toml`` (except in the embedded default configuration).
"""

from __future__ import annotations

from plugins.builtin import (
    category_detector,
    http_pay,
    http_risk,
    name_list_detector,
    own_data,
    sandbox_pay,
    sandbox_sms,
)
from plugins.definition import PluginDefinition

BUILTINS: tuple[PluginDefinition, ...] = (
    sandbox_pay.plugin,
    http_pay.plugin,
    http_risk.plugin,
    category_detector.plugin,
    name_list_detector.plugin,
    sandbox_sms.plugin,
    own_data.plugin,
)

__all__ = ["BUILTINS"]
