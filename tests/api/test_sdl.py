"""schema/schema.graphql is what SPA teams code against: it must match the code."""

from __future__ import annotations

from schema.schema import SDL_PATH, build_schema


def test_exported_sdl_matches_the_code() -> None:
    expected = build_schema().as_str() + "\n"
    assert SDL_PATH.read_text(encoding="utf-8") == expected, (
        "schema/schema.graphql is out of date: run `lendline export-schema` and commit it")
