"""Institutions (SPEC §2): banks and their credit products, lending-assist and credit-enhancement
institutions, margin accounts, payment platforms.

One small service module per entity; `rules` holds the shared field validation and `common` the
reference checks and operation-log helper. Bank-owned rows (banks, bank products, margin accounts
and their movements) are read and written only within the caller's `DataScope`.
"""
