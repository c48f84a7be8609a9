"""Payments outside one loan: the banks' accounts at payment providers, balance monitoring
(F-SYS-5) and daily reconciliation against the providers' statements (seed 004 对账)."""
