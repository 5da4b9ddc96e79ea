"""Who works on which task: leases kept as slots in the database (ADR 0006, ADR 0008).

The rest of dispatch uses `Leases` (`service.py`) and the values it hands out; the slots
(`slots.py`), their queries (`repository.py`) and the open lists (`open_lists.py`) stay
behind it.
"""

from services.dispatch.leases.open_lists import OpenLists
from services.dispatch.leases.repository import LeaseLost, SlotRepository
from services.dispatch.leases.service import Leases
from services.dispatch.leases.slots import Lease, LeasedTask, LeaseEnd

__all__ = [
    "Lease",
    "LeaseEnd",
    "LeaseLost",
    "LeasedTask",
    "Leases",
    "OpenLists",
    "SlotRepository",
]
