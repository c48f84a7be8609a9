"""Built-in diversion detectors on positive and negative examples, and their data files."""

from __future__ import annotations

from decimal import Decimal

import pytest

from plugins import PluginConfigError
from plugins.builtin.category_detector import load_mapping
from plugins.builtin.datafiles import DATA_DIR, diversion_codes
from plugins.builtin.name_list_detector import NameListDetectorSettings, load_lists
from plugins.builtin.names import compact
from plugins.testkit import assert_abstains, assert_classifies, host_from_dict, make_transaction, running_host
from plugins.types import Direction

DETECTORS = {"plugins": {"category_detector": {}, "name_list_detector": {}}}


@pytest.fixture
async def host():
    async with running_host(DETECTORS) as (started, _):
        yield started


def test_codes_follow_seed_000():
    codes = diversion_codes()
    assert {"LS": "债市", "GS": "股市", "JJCF": "基金/财富"}.items() <= codes.items()  # the seed's rule table
    assert set(codes) == {"LS", "GS", "JJCF", "QH", "GJS", "XNB", "FDC"}


@pytest.mark.parametrize(("category", "code"), [
    ("6211", "GS"), ("SEC_BROKER", "GS"), ("BOND_CLEARING", "LS"), ("FUND_MANAGER", "JJCF"),
    ("FUTURES_BROKER", "QH"), ("PRECIOUS_METALS_EXCHANGE", "GJS"), ("CRYPTO_EXCHANGE", "XNB"),
    ("6051", "XNB"), ("RE_DEVELOPER", "FDC"), (" sec_broker ", "GS"),
])
async def test_category_detector_positive(host, category, code):
    detection = await assert_classifies(host, make_transaction(counterparty_name="", counterparty_category=category),
                                        code, detector="category_detector")
    assert category.strip().upper() in detection.classification.reason


@pytest.mark.parametrize("category", ["5814", "5411", "GROCERY", ""])
async def test_category_detector_negative(host, category):
    await assert_abstains(host, make_transaction(counterparty_name="", counterparty_category=category))


async def test_incoming_money_is_never_a_diversion(host):
    txn = make_transaction(direction=Direction.IN, counterparty_name="中信证券", counterparty_category="6211")
    await assert_abstains(host, txn)


async def test_category_overrides_from_settings():
    config = {"plugins": {"category_detector": {"overrides": {"7995": "XNB"}, "override_confidence": "0.7"}}}
    async with running_host(config) as (host, _):
        await assert_classifies(host, make_transaction(counterparty_category="7995"), "XNB",
                                min_confidence=Decimal("0.7"))
    with pytest.raises(PluginConfigError, match="unknown diversion code 'ZZ'"):
        host_from_dict({"plugins": {"category_detector": {"overrides": {"7995": "ZZ"}}}})


@pytest.mark.parametrize(("name", "code", "entry"), [
    ("中信证券股份有限公司", "GS", "中信证券"),
    ("中信证券　股份有限公司", "GS", "中信证券"),                       # ideographic space
    ("（中信证券）股份有限公司", "GS", "中信证券"),                      # full-width brackets
    ("中信证券股份有限公司北京朝阳门营业部", "GS", "中信证券"),          # branch: contained match
    ("国泰君安期货有限公司", "QH", "国泰君安期货"),                     # longest entry beats 国泰君安 (GS)
    ("万科地产", "FDC", "万科地产"),                                    # seed 000's fund-flow example
    ("上海黄金交易所", "GJS", "上海黄金交易所"),
    ("中央国债登记结算有限责任公司", "LS", "中央国债登记结算"),
    ("易方达基金管理有限公司", "JJCF", "易方达基金"),
    ("Binance Holdings Ltd", "XNB", "Binance"),
    ("ＯＫＸ", "XNB", "OKX"),                                          # full-width Latin letters
    ("上海期货交易所", "QH", "上海期货交易所"),
])
async def test_name_list_detector_positive(host, name, code, entry):
    detection = await assert_classifies(host, make_transaction(counterparty_name=name, counterparty_category=""),
                                        code, detector="name_list_detector")
    reason = detection.classification.reason
    assert f"'{entry}'" in reason and "name list" in reason


@pytest.mark.parametrize("name", [
    "星巴克咖啡", "北京链家小区超市", "万科物业服务中心", "Bookxpress Ltd", "中信银行信用卡中心", "  ",
])
async def test_name_list_detector_negative(host, name):
    await assert_abstains(host, make_transaction(counterparty_name=name, counterparty_category=""))


async def test_contained_match_is_less_confident_than_exact(host):
    exact = await assert_classifies(host, make_transaction(counterparty_name="中信期货有限公司",
                                                           counterparty_category=""), "QH")
    branch = await assert_classifies(host, make_transaction(counterparty_name="中信期货有限公司上海分公司",
                                                            counterparty_category=""), "QH")
    assert exact.classification.confidence == Decimal("0.95")
    assert branch.classification.confidence == Decimal("0.85")
    assert "contains" in branch.classification.reason


async def test_both_detectors_answer_for_the_same_payment(host):
    detections = await host.classify(make_transaction(counterparty_name="华泰证券股份有限公司",
                                                      counterparty_category="SEC_BROKER"))
    assert sorted(d.detector for d in detections.items) == ["category_detector", "name_list_detector"]
    assert detections.codes() == {"GS"} and detections.complete


async def test_restricting_lists_and_unknown_list_names():
    config = {"plugins": {"name_list_detector": {"lists": ["futures"]}}}
    async with running_host(config) as (host, _):
        await assert_classifies(host, make_transaction(counterparty_name="永安期货"), "QH")
        await assert_abstains(host, make_transaction(counterparty_name="中信证券"))
    with pytest.raises(PluginConfigError) as info:
        host_from_dict({"plugins": {"name_list_detector": {"lists": ["stocks"]}}})
    assert info.value.key == "lists" and "securities" in str(info.value)


async def test_extra_lists_from_a_bank_directory(tmp_path):
    (tmp_path / "local.txt").write_text(
        "# list: local_brokers\n# title: 本地配资平台\n# code: GS\n# confidence: 0.8\n某某配资平台\n", encoding="utf-8")
    config = {"plugins": {"name_list_detector": {"extra_lists_dir": str(tmp_path)}}}
    async with running_host(config) as (host, _):
        detection = await assert_classifies(host, make_transaction(counterparty_name="某某配资平台有限公司"), "GS")
    assert "local_brokers" in detection.classification.reason


def test_name_lists_are_realistic_and_unambiguous():
    lists = load_lists(NameListDetectorSettings())
    by_name = {nl.name: nl for nl in lists}
    for name in ("securities", "futures", "real_estate", "crypto_exchanges", "precious_metals", "funds_wealth"):
        assert len(by_name[name].names) >= 20, name
    codes_by_key: dict[str, set[str]] = {}
    for name_list in lists:
        for firm in name_list.names:
            for alias in firm:
                codes_by_key.setdefault(compact(alias), set()).add(name_list.code)
    ambiguous = {key: codes for key, codes in codes_by_key.items() if len(codes) > 1}
    assert not ambiguous


def test_category_mapping_file_is_valid():
    mapping = load_mapping(DATA_DIR / "category_codes.csv")
    assert set(r.code for r in mapping.values()) <= set(diversion_codes())
    assert mapping["6211"].code == "GS" and mapping["6211"].scheme == "MCC"
