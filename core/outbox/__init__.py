"""The transactional outbox: background work recorded in the business transaction, delivered later.

Callers use :func:`core.outbox.service.enqueue`; see that module for the delivery guarantees.
"""
