"""``example_keyword_detector``: classifies by payment channel and memo keywords.

Channel ``securities_transfer`` (银证转账: moving money from a bank account to a brokerage account) is
strong evidence of stock trading; memo keywords are weaker evidence. The detector is ``async def``
because it does no I/O: it runs on the event loop without a thread hop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from plugins import PluginDefinition, hookimpl
from plugins.types import Classification, Direction, Transaction

DEFAULT_KEYWORDS = {"炒股": "GS", "股票": "GS", "基金申购": "JJCF", "理财产品": "JJCF", "期货保证金": "QH",
                    "比特币": "XNB", "usdt": "XNB", "购房": "FDC", "首付": "FDC", "黄金": "GJS"}


@dataclass
class KeywordDetectorSettings:
    keywords: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYWORDS))
    channels: dict[str, str] = field(default_factory=lambda: {"securities_transfer": "GS",
                                                              "futures_transfer": "QH"})
    keyword_confidence: Decimal = Decimal("0.60")
    channel_confidence: Decimal = Decimal("0.95")


class KeywordDetector:
    def __init__(self, settings: KeywordDetectorSettings) -> None:
        self.settings = settings

    @hookimpl
    async def lendline_detect_diversion(self, transaction: Transaction) -> Classification | None:
        if transaction.direction is not Direction.OUT:
            return None
        code = self.settings.channels.get(transaction.channel)
        if code is not None:
            return Classification(code, self.settings.channel_confidence,
                                  f"paid through channel {transaction.channel!r}")
        memo = transaction.memo.lower()
        for keyword, code in self.settings.keywords.items():
            if keyword.lower() in memo:
                return Classification(code, self.settings.keyword_confidence,
                                      f"memo {transaction.memo!r} mentions {keyword!r}")
        return None


plugin = PluginDefinition(
    name="example_keyword_detector",
    factory=KeywordDetector,
    settings=KeywordDetectorSettings,
    description="Example diversion detector by channel and memo keywords.",
)
