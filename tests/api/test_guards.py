"""Every root field is guarded; anonymous callers get nothing (DESIGN: "a test walks the schema")."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type
from strawberry.utils.str_converters import to_camel_case

from permissions.tree import NODE_KEYS
from schema.guard import Access, Guard
from schema.schema import build_schema
from tests.support import Api

PUBLIC = {"login", "refreshToken"}


def root_fields() -> list[tuple[str, str, list[Guard]]]:
    schema = build_schema()
    out = []
    for root in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(root)
        if definition is None:
            continue
        for field in definition.fields:  # type: ignore[attr-defined]
            guards = [e for e in field.extensions if isinstance(e, Guard)]
            out.append((root, field.graphql_name or to_camel_case(field.python_name), guards))
    return out


def test_every_root_field_has_exactly_one_guard_and_only_login_is_public() -> None:
    fields = root_fields()
    assert len(fields) > 20
    unguarded = [f"{r}.{n}" for r, n, g in fields if len(g) != 1]
    assert unguarded == []
    public = {n for _, n, g in fields if g[0].access is Access.PUBLIC}
    assert public == PUBLIC
    for _, _, (guard,) in fields:
        assert set(guard.nodes) <= NODE_KEYS


async def test_anonymous_callers_are_refused_on_every_query_and_mutation(api: Api) -> None:
    schema = build_schema()._schema
    for root in ("query", "mutation"):
        root_type: GraphQLObjectType = schema.query_type if root == "query" else schema.mutation_type  # type: ignore
        for name, field in root_type.fields.items():
            if name in PUBLIC:
                continue
            required = {a: t for a, t in field.args.items() if isinstance(t.type, GraphQLNonNull)}
            var_defs = ", ".join(f"${a}: {t.type}" for a, t in required.items())
            args = ", ".join(f"{a}: ${a}" for a in required)
            composite = isinstance(get_named_type(field.type), GraphQLObjectType)
            selection = " { errors { code } }" if root == "mutation" else (" { __typename }" if composite else "")
            signature = f"({var_defs})" if var_defs else ""
            call = f"({args})" if args else ""
            doc = f"{root} Probe{signature} {{ {name}{call}{selection} }}"
            variables = {a: _sample(t.type) for a, t in required.items()}
            body = await api(doc, variables)
            if root == "mutation":
                assert body["data"][name]["errors"][0]["code"] == "UNAUTHENTICATED", (name, body)
            else:
                assert body["data"] is None or body["data"].get(name) is None, (name, body)
                assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (name, body)


def _sample(t: Any) -> Any:
    inner = t.of_type if isinstance(t, GraphQLNonNull) else t
    name = getattr(inner, "name", None)
    if name in {"ID"}:
        return "VXNlcjox"
    if name in {"String"}:
        return "x"
    if name in {"Int"}:
        return 1
    if name in {"Boolean"}:
        return True
    if name in {"Date"}:
        return "2026-01-01"
    if name in {"DateTime"}:
        return "2026-01-01T00:00:00+00:00"
    if name in {"Decimal"}:
        return "1"
    if hasattr(inner, "of_type"):
        return []
    if hasattr(inner, "fields"):  # input object: fill its required fields
        return {k: _sample(f.type) for k, f in inner.fields.items() if isinstance(f.type, GraphQLNonNull)}
    if hasattr(inner, "values"):
        return next(iter(inner.values))
    return None


async def test_users_without_the_node_are_refused(api: Api, people: dict[str, Any]) -> None:
    viewer = await api.login("viewer1")
    body = await api("{ users { totalCount } }", token=viewer)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    out = await api("mutation{ setUserEnabled(id:\"VXNlcjox\", enabled:false){ errors{ code message } } }",
                    token=viewer)
    assert out["data"]["setUserEnabled"]["errors"][0]["code"] == "FORBIDDEN"
    maker = await api.login("maker1")
    out = await api("mutation{ approveChange(id:\"Q2hhbmdlUmVxdWVzdDox\"){ errors{ code } } }", token=maker)
    assert out["data"]["approveChange"]["errors"][0]["code"] == "FORBIDDEN"
