"""Python client for the Warden coordination agent.

    import warden

    client = warden.connect()
    with client.lock("/jobs/nightly") as lease:
        run(lease.token)
"""

from ._streams import Stream, Subscription, Watch
from ._wire import DEFAULT_SOCKET, PROTOCOL_VERSION, SOCKET_ENV
from .client import Client, connect, socket_path
from .errors import (ERROR_CLASSES, BadArgumentsError, BadFrameError, BadVersionError, CanceledError,
                     ConnectionClosedError, DisconnectedError, InternalError, NoChildrenForEphemeralsError,
                     NodeExistsError, NoNodeError, NoSessionError, NotEmptyError, NotHeldError,
                     OperationTimeoutError, PermissionDeniedError, SessionExpiredError, SessionLostError,
                     StreamClosedError, StreamOverflowError, TooLargeError, TooManyRequestsError, UnavailableError, UnknownOpError,
                     UnsupportedVersionError, WardenError)
from .recipes import (Barrier, Config, ConfigSubscription, Counter, DoubleBarrier, Election, Leadership, Lease,
                      Membership, Queue, Semaphore, SemaphoreLease, Task)
from .types import (ANY_VERSION, CONFIG_ABSENT, AgentMember, ChangeEvent, ConfigUpdate, GroupMember, Leader,
                    MemberEvent, Op, OpResult, QueueItem, ResumeToken, Scope, SessionState, Stat, Status,
                    TaskEvent, TaskReport, WatchEvent)

__version__ = "0.1.0"

__all__ = [
    "connect", "Client", "socket_path", "Stream", "Subscription", "Watch",
    "DEFAULT_SOCKET", "PROTOCOL_VERSION", "SOCKET_ENV",
    "Lease", "Leadership", "Election", "Task", "Membership", "Semaphore", "SemaphoreLease", "Barrier",
    "DoubleBarrier", "Queue", "Counter", "Config", "ConfigSubscription",
    "ANY_VERSION", "CONFIG_ABSENT", "AgentMember", "ChangeEvent", "ConfigUpdate", "GroupMember", "Leader",
    "MemberEvent", "Op", "OpResult", "QueueItem", "ResumeToken", "Scope", "SessionState", "Stat", "Status",
    "TaskEvent", "TaskReport", "WatchEvent",
    "ERROR_CLASSES", "WardenError", "NoNodeError", "NodeExistsError", "BadVersionError", "NotEmptyError",
    "NoChildrenForEphemeralsError", "BadArgumentsError", "SessionExpiredError", "OperationTimeoutError",
    "UnavailableError", "TooLargeError", "UnknownOpError", "PermissionDeniedError", "CanceledError",
    "NotHeldError", "NoSessionError", "UnsupportedVersionError", "BadFrameError", "TooManyRequestsError",
    "InternalError", "ConnectionClosedError", "DisconnectedError", "SessionLostError", "StreamClosedError",
    "StreamOverflowError",
]
