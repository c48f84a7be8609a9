"""The strawberry schema: every domain's Query and Mutation merged, with limits on."""

from __future__ import annotations

from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from core.config import current_settings
from core.errors import UserError
from schema.accounts import AccountsMutation, AccountsQuery
from schema.collection import CollectionMutation, CollectionQuery
from schema.contracts import ContractsMutation, ContractsQuery
from schema.credit_review import CreditReviewMutation, CreditReviewQuery
from schema.disbursement import DisbursementMutation, DisbursementQuery
from schema.errors import MaskUnexpectedErrors
from schema.ledger import LedgerMutation, LedgerQuery, LedgerSubscription
from schema.loans import LoansMutation, LoansQuery
from schema.monitoring_ingest import MonitoringIngestMutation, MonitoringIngestSubscription
from schema.monitoring_rules import MonitoringRulesMutation, MonitoringRulesQuery
from schema.monitoring_views import MonitoringViewsMutation, MonitoringViewsQuery
from schema.oplog import OplogQuery
from schema.orgs import OrgsMutation, OrgsQuery
from schema.payments import PaymentsMutation, PaymentsQuery
from schema.plugins import PluginsMutation, PluginsQuery
from schema.products import ProductsMutation, ProductsQuery
from schema.repayments import RepaymentsMutation, RepaymentsQuery
from schema.review import ReviewMutation, ReviewQuery
from schema.risk import RiskMutation, RiskQuery
from schema.risk_rules import RiskRulesMutation, RiskRulesQuery
from schema.system import SystemMutation, SystemQuery
from schema.tasks import TasksMutation, TasksQuery

SDL_PATH = Path(__file__).with_name("schema.graphql")

Query = merge_types("Query", (AccountsQuery, ReviewQuery, OplogQuery, OrgsQuery, SystemQuery, ProductsQuery,
                              PluginsQuery, RiskQuery, LedgerQuery, TasksQuery, LoansQuery,
                              MonitoringViewsQuery, PaymentsQuery, MonitoringRulesQuery, ContractsQuery,
                              DisbursementQuery, RepaymentsQuery, CollectionQuery, RiskRulesQuery,
                              CreditReviewQuery))
Mutation = merge_types("Mutation", (AccountsMutation, ReviewMutation, OrgsMutation, SystemMutation,
                                   ProductsMutation, PluginsMutation, RiskMutation, LedgerMutation,
                                   TasksMutation, LoansMutation, MonitoringViewsMutation, PaymentsMutation,
                                   MonitoringRulesMutation, MonitoringIngestMutation, ContractsMutation,
                                   DisbursementMutation, RepaymentsMutation, CollectionMutation,
                                   RiskRulesMutation, CreditReviewMutation))
Subscription = merge_types("Subscription", (LedgerSubscription, MonitoringIngestSubscription))


class LendlineSchema(strawberry.Schema):
    """Logs only unexpected errors: refusals (permission, validation) are answers, not incidents."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        unexpected = [e for e in errors if e.original_error is not None
                      and not isinstance(e.original_error, GraphQLError | UserError)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema() -> strawberry.Schema:
    settings = current_settings()
    return LendlineSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.query_depth_limit),
            lambda: MaxTokensLimiter(max_token_count=settings.query_token_limit),
            lambda: MaxAliasesLimiter(max_alias_count=settings.query_alias_limit),
            lambda: MaskUnexpectedErrors(production=settings.production),
        ],
    )


def export_sdl(path: Path = SDL_PATH) -> str:
    """Write the SDL the SPA teams code against; a test fails when the file drifts from the code."""
    sdl = build_schema().as_str() + "\n"
    path.write_text(sdl, encoding="utf-8")
    return sdl
