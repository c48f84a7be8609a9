"""Lendline's domain: models, calculations and use cases. Knows nothing of GraphQL or HTTP."""
