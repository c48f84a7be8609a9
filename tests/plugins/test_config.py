"""plugins.toml: loading, validation messages an operator can act on, secrets, blocking."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from plugins import PluginConfigError, PluginDefinition, Secret, hookimpl
from plugins.config import ENV_CONFIG_PATH, config_from_dict, load_config
from plugins.manager import ENV_BLOCK, create_host
from plugins.testkit import host_from_dict

REPO_ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = ["sandbox_pay", "category_detector", "name_list_detector", "sandbox_sms", "own_data"]
HTTP_PAY = {"base_url": "http://127.0.0.1:1", "merchant_id": "M001", "secret": "env:PAY_SECRET"}


def config_error(config: dict, *, env: dict | None = None, extra=()) -> PluginConfigError:
    with pytest.raises(PluginConfigError) as info:
        host_from_dict(config, env=env, extra=extra)
    return info.value


def test_repository_plugins_toml_loads_with_expected_plugins():
    config = load_config(REPO_ROOT / "plugins.toml", env={})
    assert config.enabled() == EMBEDDED
    assert not config.plugins["http_pay"].enabled and not config.plugins["http_risk"].enabled
    assert config.timeouts.payment == 10 and config.timeouts.detector == 2
    host = create_host(config, env={})  # http_pay's env secret is unset, but it is disabled
    assert host.enabled_plugins() == EMBEDDED


def test_config_path_from_environment_and_missing_files(tmp_path):
    path = tmp_path / "custom.toml"
    path.write_text('[plugins.sandbox_pay]\nidentifier = "sbx"\n[timeouts]\npayment = 3\n', encoding="utf-8")
    config = load_config(env={ENV_CONFIG_PATH: str(path)})
    assert config.enabled() == ["sandbox_pay"] and config.timeouts.payment == 3.0
    with pytest.raises(PluginConfigError, match="not found"):
        load_config(env={ENV_CONFIG_PATH: str(tmp_path / "missing.toml")})
    with pytest.raises(PluginConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", env={})


def test_without_any_file_the_embedded_default_applies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.enabled() == EMBEDDED


def test_invalid_toml_is_a_config_error(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text("[plugins.sandbox_pay\n", encoding="utf-8")
    with pytest.raises(PluginConfigError, match="not valid TOML"):
        load_config(path, env={})


def test_unknown_plugin_is_named():
    error = config_error({"plugins": {"acme_pay": {"enabled": True}}})
    assert error.plugin == "acme_pay"
    assert "unknown plugin" in str(error) and "sandbox_pay" in str(error)


def test_unknown_disabled_plugin_is_tolerated():
    host = host_from_dict({"plugins": {"acme_pay": {"enabled": False}, "sandbox_pay": {}}})
    assert host.enabled_plugins() == ["sandbox_pay"]


def test_unknown_key_names_plugin_key_and_valid_keys():
    error = config_error({"plugins": {"sandbox_pay": {"latencyms": 5}}})
    assert (error.plugin, error.key) == ("sandbox_pay", "latencyms")
    assert "unknown key" in str(error) and "latency_ms" in str(error)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("latency_ms", "fast", "expected an integer, got a string 'fast'"),
    ("latency_ms", True, "expected an integer, got a boolean"),
    ("fail_rate", "often", "expected a number"),
    ("decline_accounts", "ACC-1", "expected an array of a string"),
    ("balances", {"DISB-001": "lots"}, "decimal number"),
    ("seed", 1.5, "expected an integer"),
])
def test_wrong_type_names_plugin_key_and_expectation(key, value, expected):
    error = config_error({"plugins": {"sandbox_pay": {key: value}}})
    assert error.plugin == "sandbox_pay" and error.key.startswith(key)
    assert expected in str(error)


def test_cross_field_rule_names_the_key():
    error = config_error({"plugins": {"sandbox_pay": {"fail_rate": 1.5}}})
    assert (error.plugin, error.key) == ("sandbox_pay", "fail_rate") and "between 0 and 1" in str(error)


def test_values_are_converted_to_declared_types():
    host = host_from_dict({"plugins": {"sandbox_pay": {"balances": {"DISB-9": "12.50", "DISB-8": 3},
                                                       "fail_rate": 0, "seed": 7}}})
    settings = host.plugin("sandbox_pay").settings
    assert settings.balances == {"DISB-9": Decimal("12.50"), "DISB-8": Decimal("3")}
    assert settings.fail_rate == 0.0 and isinstance(settings.fail_rate, float)


def test_missing_env_secret_names_plugin_key_and_variable():
    error = config_error({"plugins": {"http_pay": HTTP_PAY}})
    assert (error.plugin, error.key) == ("http_pay", "secret")
    assert "PAY_SECRET is not set" in str(error)


def test_missing_required_key():
    error = config_error({"plugins": {"http_pay": {"base_url": "http://x", "secret": "s"}}})
    assert (error.plugin, error.key) == ("http_pay", "merchant_id") and "missing required key" in str(error)


def test_secrets_resolve_from_env_and_never_print():
    host = host_from_dict({"plugins": {"http_pay": HTTP_PAY}}, env={"PAY_SECRET": "hunter2-topsecret"})
    settings = host.plugin("http_pay").settings
    assert settings.secret == Secret("hunter2-topsecret")
    assert settings.secret.reveal() == "hunter2-topsecret"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.secret)


def test_wrong_type_for_a_secret_does_not_echo_the_value():
    error = config_error({"plugins": {"http_pay": {**HTTP_PAY, "secret": 123456789}}})
    assert error.key == "secret" and "123456789" not in str(error)


def test_disabled_plugin_checks_keys_but_not_secrets():
    host_from_dict({"plugins": {"http_pay": {**HTTP_PAY, "enabled": False}}})  # PAY_SECRET unset: fine
    error = config_error({"plugins": {"http_pay": {**HTTP_PAY, "enabled": False, "merchantid": "x"}}})
    assert error.key == "merchantid"


def test_enabled_must_be_boolean_and_structure_is_checked():
    assert config_error({"plugins": {"sandbox_pay": {"enabled": "yes"}}}).key == "enabled"
    with pytest.raises(PluginConfigError, match="unknown top-level table"):
        config_from_dict({"plugin": {}})
    with pytest.raises(PluginConfigError, match="must be a table"):
        config_from_dict({"plugins": {"sandbox_pay": 1}})


@pytest.mark.parametrize(("timeouts", "message"), [
    ({"payment": 0}, "more than 0"),
    ({"payment": "10"}, "number of seconds"),
    ({"payments": 10}, "unknown timeout 'payments'"),
])
def test_bad_timeouts(timeouts, message):
    with pytest.raises(PluginConfigError, match=message):
        config_from_dict({"timeouts": timeouts})


def test_block_env_var_keeps_enabled_plugins_out():
    config = {"plugins": {"sandbox_pay": {}, "name_list_detector": {}, "category_detector": {}}}
    host = host_from_dict(config, env={ENV_BLOCK: " name_list_detector , category_detector"})
    assert host.enabled_plugins() == ["sandbox_pay"]


def test_blocked_plugin_is_not_even_configured():
    host = host_from_dict({"plugins": {"http_pay": HTTP_PAY}}, env={ENV_BLOCK: "http_pay"})
    assert host.enabled_plugins() == []


async def test_blocked_plugin_shows_in_status():
    host = host_from_dict({"plugins": {"sandbox_pay": {}}}, env={ENV_BLOCK: "sandbox_pay"})
    async with host:
        status = {s.name: s for s in await host.plugin_statuses()}["sandbox_pay"]
    assert status.enabled and status.blocked and status.health is None


class Typo:
    @hookimpl
    def lendline_payment_disburce(self, order):  # misspelt hook
        return None


class Wrapper:
    @hookimpl(wrapper=True)
    def lendline_detect_diversion(self, transaction):
        return (yield)


class BadSignature:
    @hookimpl
    def lendline_detect_diversion(self, txn):  # argument name not in the spec
        return None


@pytest.mark.parametrize(("factory", "message"), [
    (Typo, "unknown hook 'lendline_payment_disburce'"),
    (Wrapper, "wrappers are not supported"),
    (BadSignature, "does not match its specification"),
])
def test_hook_implementation_mistakes_fail_at_start_up(factory, message):
    error = config_error({"plugins": {"broken": {}}}, extra=[PluginDefinition("broken", factory)])
    assert error.plugin == "broken" and message in str(error)


def test_plugin_without_settings_schema_refuses_settings():
    error = config_error({"plugins": {"typo": {"x": 1}}}, extra=[PluginDefinition("typo", Typo)])
    assert error.key == "x" and "takes no settings" in str(error)


def test_plugin_constructor_failure_is_a_config_error():
    def explode():
        raise RuntimeError("cannot open data file")

    error = config_error({"plugins": {"boom": {}}}, extra=[PluginDefinition("boom", explode)])
    assert error.plugin == "boom" and "cannot open data file" in str(error)


class OtherSandbox:
    @hookimpl
    def lendline_payment_identifier(self):
        return "sandbox"


class HalfProvider:
    @hookimpl
    async def lendline_payment_disburse(self, order):
        return None


async def test_duplicate_payment_identifier_stops_start_up():
    host = host_from_dict({"plugins": {"sandbox_pay": {}, "other": {}}},
                          extra=[PluginDefinition("other", OtherSandbox)])
    with pytest.raises(PluginConfigError, match="already served"):
        await host.start()


async def test_payment_hooks_without_identifier_stop_start_up():
    host = host_from_dict({"plugins": {"half": {}}}, extra=[PluginDefinition("half", HalfProvider)])
    with pytest.raises(PluginConfigError, match="not lendline_payment_identifier"):
        await host.start()
