"""Demo loan orders for `lendline demo`: applications admitted on the demo products.

Every order goes through `submit_application` like a traffic platform's would (funders' shares,
quota, state log, operation log). Most end `approved`, ready for the signing and disbursement demo
to continue; one is cancelled (its quota given back). Orders on the product with a risk event go
through the risk scene, so they need the risk demo (`load_demo_risk`) loaded first; without the
credit-review module they are left out.

Idempotent: each application carries a fixed idempotency key, and a repeat answers with the order
it created, so running the demo twice changes nothing.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from core.actor import Actor
from core.loans.admission import Application, cancel_order, submit_application
from core.loans.models import Loan, LoanStatus
from core.orgs.models import AssistInstitution
from core.products.models import Product
from core.risk.idnumber import check_char


@dataclass(frozen=True)
class DemoOrder:
    key: str
    product: str
    channel: str
    name: str
    birth: str
    phone: str
    amount: str
    term: int
    cancel: str = ""  # reason, when the demo cancels the order after admission


ORDERS = [
    DemoOrder("demo-0001", "DEMO-ASSIST-EP", "AST-002", "王建国", "19850612", "13812340001", "50000.00", 12),
    DemoOrder("demo-0002", "DEMO-ASSIST-EP", "AST-002", "李秀英", "19920318", "13812340002", "20000.00", 24),
    DemoOrder("demo-0003", "DEMO-JOINT-IF", "AST-001", "张伟", "19780923", "13812340003", "150000.00", 12),
    DemoOrder("demo-0004", "DEMO-JOINT-IF", "AST-003", "刘洋", "19881130", "13812340004", "80000.00", 6),
    DemoOrder("demo-0005", "DEMO-SELF-BULLET", "AST-003", "陈静", "19950704", "13812340005", "8000.00", 30),
    DemoOrder("demo-0006", "DEMO-SELF-BULLET", "AST-003", "杨帆", "19900101", "13812340006", "3000.00", 14,
              cancel="客户撤回申请 (demo)"),
    DemoOrder("demo-0007", "DEMO-SELF-EI", "AST-001", "赵敏", "19870415", "13812340007", "30000.00", 12),
    DemoOrder("demo-0008", "DEMO-SELF-EI", "AST-001", "孙丽", "19930826", "13812340008", "60000.00", 24),
]


def demo_id_number(order: DemoOrder) -> str:
    first17 = "310104" + order.birth + order.key[-3:]
    return first17 + check_char(first17)


async def load_demo_orders(actor: Actor) -> list[str]:
    """Admit the demo orders as `actor` (needs `loans.apply` and every demo product in scope, e.g. the
    demo admin); returns what it did, nothing on a re-run."""
    done: list[str] = []
    products = {p.code: p for p in await Product.filter(code__startswith="DEMO-")}
    channels = {c.number: c for c in await AssistInstitution.filter(number__startswith="AST-")}
    review_ready = importlib.util.find_spec("core.loans.credit_review") is not None
    for order in ORDERS:
        product, channel = products.get(order.product), channels.get(order.channel)
        if product is None or channel is None or (product.risk_event_enabled and not review_ready):
            continue
        existed = await Loan.filter(idempotency_key=f"{channel.id}:{order.key}").exists()
        loan = await submit_application(actor, Application(
            idempotency_key=order.key, channel_id=channel.id, channel_order_no=f"{order.channel}-{order.key}",
            product_id=product.id, name=order.name, id_number=demo_id_number(order), phone=order.phone,
            amount=order.amount, term=order.term, term_unit=product.term_unit.value,
            disbursement_account=f"6222{order.phone[-8:]}0000"))
        if not existed:
            done.append(f"order {loan.order_no} on {product.code} from {order.channel}: {loan.status}")
        if order.cancel and loan.status not in {LoanStatus.CANCELLED, LoanStatus.REJECTED}:
            await cancel_order(actor, loan.id, order.cancel)
            done.append(f"order {loan.order_no} cancelled")
    return done
