"""Plugin test kit: build hosts from dicts, make fake inputs, assert hook contracts.

Use it from any pytest suite (yours or Lendline's)::

    from plugins.testkit import assert_classifies, assert_idempotent, make_order, running_host

    async def test_my_provider_is_idempotent():
        async with running_host({"plugins": {"my_pay": {"identifier": "mine"}}}) as (host, incidents):
            await assert_idempotent(host, "mine", make_order(), repeats=50)

Fixtures (``plugin_host_factory``, ``txn_factory``, ``incident_recorder``) are in
:mod:`plugins.testkit.pytest_plugin`; load them with ``pytest_plugins = ["plugins.testkit.pytest_plugin"]``
in your top-level ``conftest.py``, or import the fixture names into any conftest. Fake HTTP servers for
the built-in HTTP plugins' protocols (:class:`FakeGateway`, :class:`FakeRiskProvider`) and
:func:`serve_in_thread` (uvicorn on a free local port) help testing HTTP-based plugins.
"""

from plugins.testkit.assertions import assert_abstains, assert_classifies, assert_idempotent
from plugins.testkit.factories import TransactionFactory, make_order, make_subject, make_transaction
from plugins.testkit.fake_gateway import FakeGateway
from plugins.testkit.fake_risk import FakeRiskProvider
from plugins.testkit.hosts import IncidentRecorder, host_from_dict, running_host
from plugins.testkit.servers import serve_in_thread

__all__ = [
    "FakeGateway",
    "FakeRiskProvider",
    "IncidentRecorder",
    "TransactionFactory",
    "assert_abstains",
    "assert_classifies",
    "assert_idempotent",
    "host_from_dict",
    "make_order",
    "make_subject",
    "make_transaction",
    "running_host",
    "serve_in_thread",
]
