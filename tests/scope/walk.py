"""Builds calls for every root query field from the schema itself, so new fields are walked too.

Why from the schema: a hand-written list goes stale the day someone adds a field; the walker reads
`Query` (and every type below it), selects every field it can reach without required arguments, and
fills required arguments from a pool of candidate values (the other bank's ids above all).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    get_named_type,
)

MAX_DEPTH = 5


def _selection(t: Any, depth: int, seen: tuple[str, ...] = ()) -> str:
    named = get_named_type(t)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return ""
    if not isinstance(named, GraphQLObjectType) or depth <= 0 or seen.count(named.name) >= 2:
        return "__typename"
    parts = []
    for name, field in named.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            parts.append(name)
        else:
            sub = _selection(field.type, depth - 1, (*seen, named.name))
            parts.append(f"{name} {{ {sub} }}")
    return " ".join(parts or ["__typename"])


@dataclass
class Pool:
    """Candidate values for required arguments, by kind."""

    ids: list[str]
    strings: list[str]

    def values(self, arg: str, t: GraphQLInputType) -> list[Any] | None:
        inner = t.of_type if isinstance(t, GraphQLNonNull) else t
        if isinstance(inner, GraphQLList):
            one = self.values(arg, inner.of_type)
            return None if one is None else [[v] for v in one]
        if isinstance(inner, GraphQLEnumType):
            return [next(iter(inner.values))]
        if isinstance(inner, GraphQLInputObjectType):
            fields: dict[str, Any] = {}
            for name, f in inner.fields.items():
                if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined:
                    vals = self.values(name, f.type)
                    if vals is None:
                        return None
                    fields[name] = vals[0]
            return [fields]
        assert isinstance(inner, GraphQLScalarType)
        name = inner.name
        if name == "ID":
            return list(self.ids)
        if name == "String":
            # Hashes, keys and business numbers (orderNo, customerNo, serialNo …) take the other bank's.
            wanted = "hash" in arg.lower() or arg.lower().endswith("key") or arg.endswith("No")
            return list(self.strings) if wanted else ["x"]
        if name == "Int":
            return [1]
        if name == "Boolean":
            return [True]
        if name == "Date":
            return [date.today().isoformat()]
        if name == "DateTime":
            return [datetime.now(UTC).isoformat()]
        if name == "Decimal":
            return ["1"]
        return None


@dataclass(frozen=True)
class Call:
    field: str
    query: str
    variables: dict[str, Any]


def calls(schema: GraphQLSchema, pool: Pool, skip: set[str]) -> Iterator[Call | str]:
    """Every way of calling each root query field; yields a field name when arguments can't be built."""
    query_type = schema.query_type
    assert query_type is not None
    for name, field in query_type.fields.items():
        if name in skip:
            continue
        yield from _calls_for(name, field, pool)


def _has_id(t: Any) -> bool:
    named = get_named_type(t)
    if isinstance(named, GraphQLScalarType):
        return named.name == "ID"
    if isinstance(named, GraphQLInputObjectType):
        return any(_has_id(f.type) for f in named.fields.values())
    return False


def _id_variants(arg: str, t: Any, pool: Pool) -> list[Any]:
    """Values of an optional argument that carry one candidate id each (filters by bank, role …)."""
    inner = t.of_type if isinstance(t, GraphQLNonNull) else t
    if isinstance(inner, GraphQLList):
        return [[v] for v in _id_variants(arg, inner.of_type, pool)]
    named = get_named_type(inner)
    if isinstance(named, GraphQLScalarType):
        return list(pool.ids) if named.name == "ID" else []
    if isinstance(named, GraphQLInputObjectType):
        base = (pool.values(arg, named) or [{}])[0]
        out = []
        for name, f in named.fields.items():
            if _has_id(f.type):
                out += [{**base, name: v} for v in _id_variants(name, f.type, pool)]
        return out
    return []


def _calls_for(name: str, field: GraphQLField, pool: Pool) -> Iterator[Call | str]:
    required = {a: arg for a, arg in field.args.items()
                if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined}
    choices: dict[str, list[Any]] = {}
    for a, arg in required.items():
        vals = pool.values(a, arg.type)
        if vals is None:
            yield name
            return
        choices[a] = vals
    inner = _selection(field.type, MAX_DEPTH)
    sel = f"{{ {inner} }}" if inner else ""

    def build(used: dict[str, Any]) -> str:
        defs = ", ".join(f"${a}: {field.args[a].type}" for a in used)
        head = f"query Walk({defs})" if defs else "query Walk"
        args = ", ".join(f"{a}: ${a}" for a in used)
        return f"{head} {{ {name}{f'({args})' if args else ''} {sel} }}"

    base = {a: vals[0] for a, vals in choices.items()}
    if not choices:
        yield Call(name, build({}), {})
    else:
        # One call per candidate of the richest argument; the others take their first value.
        widest = max(choices, key=lambda k: len(choices[k]))
        for v in choices[widest]:
            variables = {**base, widest: v}
            yield Call(name, build(variables), variables)
    # Optional arguments that can carry an id (filters, roleId …): one call per candidate id.
    for a, arg in field.args.items():
        if a in required or not _has_id(arg.type):
            continue
        for v in _id_variants(a, arg.type, pool):
            variables = {**base, a: v}
            yield Call(name, build(variables), variables)


def node_types(schema: GraphQLSchema) -> set[str]:
    return {n for n, t in schema.type_map.items() if isinstance(t, GraphQLObjectType) and not n.startswith("__")}
