# Lendline's plugin test kit fixtures (plugin_host_factory, txn_factory, incident_recorder).
from plugins.testkit.pytest_plugin import incident_recorder, plugin_host_factory, txn_factory  # noqa: F401
