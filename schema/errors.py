"""GraphQL shapes of expected failures: payload errors `{field, code, message}` and the code enum."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from core.errors import ErrorCode as CoreErrorCode
from core.errors import FieldError, UserError

log = logging.getLogger("lendline.graphql")

ErrorCode = strawberry.enum(CoreErrorCode, name="ErrorCode", description="Why a request was refused.")


@strawberry.type(description="An expected failure: which input field (null: the whole request), why, and what to fix.")
class UserErrorType:
    field: str | None
    code: ErrorCode  # type: ignore[valid-type]
    message: str

    @classmethod
    def of(cls, e: FieldError) -> UserErrorType:
        return cls(field=e.field, code=e.code, message=e.message)


@strawberry.type(description="Every mutation returns a payload; `errors` is empty when it succeeded.")
class Payload:
    errors: list[UserErrorType] = strawberry.field(default_factory=list)


def graphql_error(exc: UserError) -> GraphQLError:
    """A query-side refusal as a GraphQL error whose extensions carry the code and field."""
    first = exc.errors[0]
    return GraphQLError(first.message, extensions={"code": first.code.value, "field": first.field})


class MaskUnexpectedErrors(MaskErrors):
    """Hide unexpected exceptions' text in production; log them with the request id the client sees."""

    def __init__(self, production: bool) -> None:
        super().__init__(should_mask_error=self._unexpected)
        self.production = production

    @staticmethod
    def _unexpected(error: GraphQLError) -> bool:
        original = error.original_error
        return original is not None and not isinstance(original, GraphQLError | UserError)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        ctx = self.execution_context.context
        request_id = getattr(ctx, "request_id", "")
        out = []
        for error in errors:
            if self._unexpected(error):
                log.error("unexpected error in %s (request %s)", error.path, request_id,
                          exc_info=error.original_error)
                message = "Unexpected error; quote the request id to support" if self.production else str(error)
                out.append(GraphQLError(message, nodes=error.nodes, source=error.source,
                                        positions=error.positions, path=error.path,
                                        extensions={"code": "INTERNAL", "requestId": request_id}))
            else:
                out.append(error)
        return out
