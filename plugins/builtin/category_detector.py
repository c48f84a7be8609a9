"""``category_detector``: classify outgoing payments by the counterparty's category code.

The mapping lives in ``data/category_codes.csv`` (merchant category codes and the bank's own
counterparty categories → diversion type code, with a confidence and a description); its header
comments document each scheme. A bank can replace the file (``mapping_file``) or add/override
single codes (``overrides = {"7995" = "XNB"}`` at ``override_confidence``). Incoming money is never
a diversion, so the detector abstains on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from plugins.builtin.datafiles import DATA_DIR, DataFileError, diversion_codes, parse_confidence, read_csv
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.settings import SettingsError
from plugins.types import Classification, Direction, HealthReport, HealthState, Transaction


@dataclass
class CategoryDetectorSettings:
    mapping_file: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    override_confidence: Decimal = Decimal("0.90")

    def __post_init__(self) -> None:
        if self.mapping_file and not Path(self.mapping_file).is_file():
            raise SettingsError("mapping_file", f"file not found: {self.mapping_file}")
        if not Decimal("0") <= self.override_confidence <= Decimal("1"):
            raise SettingsError("override_confidence", "must be between 0 and 1")
        known = diversion_codes()
        for category, code in self.overrides.items():
            if code not in known:
                raise SettingsError(f"overrides.{category}",
                                    f"unknown diversion code {code!r}; known: {', '.join(known)}")


@dataclass(frozen=True, slots=True)
class CategoryRule:
    code: str
    confidence: Decimal
    description: str
    scheme: str


def normalize_category(value: str) -> str:
    return value.strip().upper()


def load_mapping(path: Path) -> dict[str, CategoryRule]:
    known = diversion_codes()
    mapping: dict[str, CategoryRule] = {}
    for number, row in enumerate(read_csv(path), start=1):
        where = f"{path.name} row {number}"
        category = normalize_category(row["category_code"])
        if row["diversion_code"] not in known:
            raise DataFileError(f"{where}: unknown diversion code {row['diversion_code']!r}")
        if category in mapping:
            raise DataFileError(f"{where}: category {category} appears twice")
        mapping[category] = CategoryRule(row["diversion_code"], parse_confidence(row["confidence"], where),
                                         row["description"], row["scheme"])
    return mapping


class CategoryDetector:
    def __init__(self, settings: CategoryDetectorSettings) -> None:
        path = Path(settings.mapping_file) if settings.mapping_file else DATA_DIR / "category_codes.csv"
        self.mapping = load_mapping(path)
        self.names = diversion_codes()
        for category, code in settings.overrides.items():
            self.mapping[normalize_category(category)] = CategoryRule(
                code, settings.override_confidence, "override from plugins.toml", "override")

    @hookimpl
    async def lendline_detect_diversion_batch(self, transactions: Sequence[Transaction]) -> list[Classification | None]:
        """A lookup per payment (in memory, so on the event loop): one guarded call for the batch, not hundreds."""
        return [self.classify(t) for t in transactions]

    def classify(self, transaction: Transaction) -> Classification | None:
        if transaction.direction is not Direction.OUT or not transaction.counterparty_category:
            return None
        category = normalize_category(transaction.counterparty_category)
        rule = self.mapping.get(category)
        if rule is None:
            return None
        return Classification(
            code=rule.code, confidence=rule.confidence,
            reason=f"counterparty category {category} ({rule.scheme}: {rule.description}) maps to "
                   f"{self.names.get(rule.code, rule.code)} ({rule.code})")

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"{len(self.mapping)} category codes mapped")


plugin = PluginDefinition(
    name="category_detector",
    factory=CategoryDetector,
    settings=CategoryDetectorSettings,
    description="Diversion detector by counterparty category code (MCC / bank category).",
)
