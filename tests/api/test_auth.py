"""Login, lockout, disabled users and roles, token refresh and logout — over HTTP (F-USER-2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import clock
from core.accounts.models import Role, User
from core.oplog.models import OperationLog
from tests.support import PASSWORD, Api

LOGIN = """mutation($a:String!,$p:String!){login(account:$a,password:$p){
  accessToken refreshToken user{account} errors{field code message}}}"""
ME = "{ me { user { account name roles { key } } pagePermissions } }"
REFRESH = "mutation($t:String!){refreshToken(refreshToken:$t){accessToken refreshToken errors{code message}}}"


async def login(api: Api, account: str, password: str = PASSWORD) -> dict[str, Any]:
    return (await api(LOGIN, {"a": account, "p": password}))["data"]["login"]


async def test_login_and_me(api: Api, people: dict[str, Any]) -> None:
    payload = await login(api, "maker1")
    assert payload["errors"] == [] and payload["user"]["account"] == "maker1"
    me = (await api(ME, token=payload["accessToken"]))["data"]["me"]
    assert me["user"]["roles"] == [{"key": "maker"}]
    assert "users.create" in me["pagePermissions"] and "users" in me["pagePermissions"]
    assert "review.decide" not in me["pagePermissions"]


async def test_wrong_password_is_a_typed_error_and_account_case_matters(api: Api, people: dict[str, Any]) -> None:
    bad = await login(api, "maker1", "wrong123")
    assert bad["accessToken"] is None
    assert bad["errors"] == [{"field": None, "code": "INVALID_CREDENTIALS",
                              "message": "Account or password is incorrect"}]
    assert (await login(api, "MAKER1"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await login(api, "nobody"))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_five_failures_lock_the_account_for_fifteen_minutes(api: Api, people: dict[str, Any]) -> None:
    for _ in range(5):
        assert (await login(api, "maker1", "wrong123"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    locked = await login(api, "maker1")
    assert locked["errors"][0]["code"] == "ACCOUNT_LOCKED"
    assert "minute" in locked["errors"][0]["message"]
    clock.travel(timedelta(minutes=14))
    assert (await login(api, "maker1"))["errors"][0]["code"] == "ACCOUNT_LOCKED"
    clock.travel(timedelta(minutes=2))
    assert (await login(api, "maker1"))["errors"] == []
    assert await OperationLog.filter(module="auth", action="login", outcome="refused").count() == 7  # 5 + 2 locked


async def test_success_resets_the_failure_count(api: Api, people: dict[str, Any]) -> None:
    for _ in range(4):
        await login(api, "maker1", "wrong123")
    assert (await login(api, "maker1"))["errors"] == []
    for _ in range(4):
        await login(api, "maker1", "wrong123")
    assert (await login(api, "maker1"))["errors"] == []


async def test_disabled_user_cannot_log_in(api: Api, people: dict[str, Any]) -> None:
    await User.filter(account="maker1").update(enabled=False)
    err = (await login(api, "maker1"))["errors"][0]
    assert err["code"] == "ACCOUNT_DISABLED" and "disabled" in err["message"]


async def test_user_whose_roles_are_all_disabled_cannot_log_in_until_reenabled(api: Api,
                                                                               people: dict[str, Any]) -> None:
    admin = await api.login("admin")
    maker_role = await Role.get(key="maker")
    token = await api.login("maker1")
    q = "mutation($id:ID!,$e:Boolean!){setRoleEnabled(id:$id,enabled:$e){role{enabled} errors{code}}}"
    from schema.relay import gid

    assert (await api(q, {"id": gid("Role", maker_role.id), "e": False}, admin))["data"]["setRoleEnabled"][
        "errors"] == []
    err = (await login(api, "maker1"))["errors"][0]
    assert err["code"] == "ACCOUNT_DISABLED" and "roles" in err["message"]
    # the token issued before stops working at once
    body = await api(ME, token=token)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "ACCOUNT_DISABLED"
    await api(q, {"id": gid("Role", maker_role.id), "e": True}, admin)
    assert (await login(api, "maker1"))["errors"] == []
    assert (await api(ME, token=token))["data"]["me"]["user"]["account"] == "maker1"


async def test_token_of_a_user_disabled_after_login_stops_working(api: Api, people: dict[str, Any]) -> None:
    token = await api.login("maker1")
    assert (await api(ME, token=token))["data"]["me"]
    await User.filter(account="maker1").update(enabled=False)
    body = await api(ME, token=token)
    assert body["errors"][0]["extensions"]["code"] == "ACCOUNT_DISABLED"


async def test_expired_and_forged_tokens_are_refused(api: Api, people: dict[str, Any]) -> None:
    token = await api.login("maker1")
    assert (await api(ME, token=token + "x"))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    clock.travel(timedelta(minutes=16))
    assert (await api(ME, token=token))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api(ME))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(api: Api, people: dict[str, Any]) -> None:
    first = await login(api, "maker1")
    second = (await api(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshToken"]
    assert second["errors"] == [] and second["refreshToken"] != first["refreshToken"]
    assert (await api(ME, token=second["accessToken"]))["data"]["me"]
    replay = (await api(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshToken"]
    assert replay["errors"][0]["code"] == "TOKEN_INVALID"
    # the theft is detected: the legitimate newer token is revoked as well
    assert (await api(REFRESH, {"t": second["refreshToken"]}))["data"]["refreshToken"]["errors"][0][
        "code"] == "TOKEN_INVALID"


async def test_refresh_refused_for_disabled_user_and_expired_token(api: Api, people: dict[str, Any]) -> None:
    s = await login(api, "maker1")
    await User.filter(account="maker1").update(enabled=False)
    assert (await api(REFRESH, {"t": s["refreshToken"]}))["data"]["refreshToken"]["errors"][0][
        "code"] == "ACCOUNT_DISABLED"
    await User.filter(account="maker1").update(enabled=True)
    s = await login(api, "maker1")
    clock.travel(timedelta(days=15))
    assert (await api(REFRESH, {"t": s["refreshToken"]}))["data"]["refreshToken"]["errors"][0][
        "code"] == "TOKEN_INVALID"


async def test_logout_revokes_the_refresh_token(api: Api, people: dict[str, Any]) -> None:
    s = await login(api, "maker1")
    out = await api("mutation($t:String){logout(refreshToken:$t){revokedSessions errors{code}}}",
                    {"t": s["refreshToken"]}, s["accessToken"])
    assert out["data"]["logout"] == {"revokedSessions": 1, "errors": []}
    assert (await api(REFRESH, {"t": s["refreshToken"]}))["data"]["refreshToken"]["errors"][0][
        "code"] == "TOKEN_INVALID"
