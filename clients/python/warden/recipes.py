"""Recipe objects of the blocking client: leases, elections, tasks, groups,
semaphores, barriers, queues, counters and configs. Each runs its asyncio
twin (``warden.aio``) on the client's loop; they are defined with the
client, in ``warden.client``."""

from ._streams import ConfigSubscription
from .client import (Barrier, Config, Counter, DoubleBarrier, Election, Leadership, Lease, Membership, Queue,
                     Semaphore, SemaphoreLease, Task)

__all__ = ["Lease", "Leadership", "Election", "Task", "Membership", "Semaphore", "SemaphoreLease",
           "Barrier", "DoubleBarrier", "Queue", "Counter", "Config", "ConfigSubscription"]
