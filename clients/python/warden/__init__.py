"""Python client for the Warden coordination agent.

    import warden

    client = warden.connect()
    with client.lock("/jobs/nightly") as lease:
        run(lease.token)
"""

from ._streams import Stream, Subscription, Watch
from ._socket import SOCKET_ENV, SOCKET_OWNER_ENV, default_socket_path, expected_socket_owner, socket_path
from ._wire import PROTOCOL_VERSION
from .client import Client, connect
from .errors import (ERROR_CLASSES, BadArgumentsError, BadFrameError, BadVersionError, CanceledError,
                     ConnectionClosedError, DisconnectedError, InternalError, NoChildrenForEphemeralsError,
                     NodeExistsError, NoNodeError, NoSessionError, NotEmptyError, NotHeldError,
                     OperationTimeoutError, PermissionDeniedError, SessionExpiredError, SessionLostError,
                     SocketOwnerError, StreamClosedError, StreamOverflowError, TooLargeError, TooManyRequestsError,
                     UnavailableError, UnknownOpError, UnsupportedVersionError, WardenError)
from .recipes import (Barrier, Config, ConfigSubscription, Counter, DoubleBarrier, Election, Leadership, Lease,
                      Membership, Queue, Semaphore, SemaphoreLease, Task)
from .types import (ANY_VERSION, CONFIG_ABSENT, AgentMember, ChangeEvent, ConfigUpdate, GroupMember, Hold, Leader,
                    MemberEvent, Op, OpResult, QueueItem, ResumeToken, Scope, SessionInfo, SessionState, Stat,
                    Status, TaskEvent, TaskReport, WatchEvent)

__version__ = "0.1.0"

__all__ = [
    "connect", "Client", "socket_path", "default_socket_path", "expected_socket_owner", "Stream",
    "Subscription", "Watch", "PROTOCOL_VERSION", "SOCKET_ENV", "SOCKET_OWNER_ENV",
    "Lease", "Leadership", "Election", "Task", "Membership", "Semaphore", "SemaphoreLease", "Barrier",
    "DoubleBarrier", "Queue", "Counter", "Config", "ConfigSubscription",
    "ANY_VERSION", "CONFIG_ABSENT", "AgentMember", "ChangeEvent", "ConfigUpdate", "GroupMember", "Hold", "Leader",
    "MemberEvent", "Op", "OpResult", "QueueItem", "ResumeToken", "Scope", "SessionInfo", "SessionState", "Stat",
    "Status", "TaskEvent", "TaskReport", "WatchEvent",
    "ERROR_CLASSES", "WardenError", "NoNodeError", "NodeExistsError", "BadVersionError", "NotEmptyError",
    "NoChildrenForEphemeralsError", "BadArgumentsError", "SessionExpiredError", "OperationTimeoutError",
    "UnavailableError", "TooLargeError", "UnknownOpError", "PermissionDeniedError", "CanceledError",
    "NotHeldError", "NoSessionError", "UnsupportedVersionError", "BadFrameError", "TooManyRequestsError",
    "InternalError", "ConnectionClosedError", "DisconnectedError", "SessionLostError", "SocketOwnerError",
    "StreamClosedError",
    "StreamOverflowError",
]
