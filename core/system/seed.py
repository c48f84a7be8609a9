"""The system data every installation needs: shipped dictionaries, parameters and console switches."""

from __future__ import annotations

from core.system.dictionaries import ensure_seed_dictionaries
from core.system.parameters import ensure_seed_parameters
from core.system.switches import ensure_seed_switches


async def ensure_system_data() -> list[str]:
    """Add what is missing (idempotent; admins' edits are never overwritten); returns what was added."""
    done = []
    if added := await ensure_seed_dictionaries():
        done.append(f"{len(added)} dictionaries")
    if added := await ensure_seed_parameters():
        done.append(f"{len(added)} system parameters")
    if added := await ensure_seed_switches():
        done.append(f"{len(added)} console switches")
    from core.system.tasks import ensure_builtin_tasks

    if added := await ensure_builtin_tasks():
        done.append(f"{len(added)} scheduled tasks")
    return done


async def load_demo_system() -> list[str]:
    """Demo data for the system pages: the shipped data (idempotent).

    No invented alerts: the alert page shows what really happened (plugin incidents, monitoring).
    """
    return [f"system data added: {line}" for line in await ensure_system_data()]
