"""Where the agent's socket is, and whether it belongs to the expected user.

The default socket is in a directory of the agent's user, never directly in
a directory every user can write (``wire.DefaultSocketPath`` in the Go code
is the same rule):

- ``/run/warden/warden.sock`` for root (effective uid 0);
- ``$XDG_RUNTIME_DIR/warden/warden.sock`` for any other user;
- ``/tmp/warden-UID/warden.sock`` when ``XDG_RUNTIME_DIR`` is unset or not
  an absolute path.

Before connecting, the client checks that the socket belongs to root or to
the expected user: ``$WARDEN_SOCKET_OWNER`` (a uid or a user name), else the
process's own effective uid. Whoever can put a socket at the path could
otherwise pose as the agent.
"""

from __future__ import annotations

import os
import pwd
from typing import Optional

from .errors import SocketOwnerError, WardenError

SOCKET_ENV = "WARDEN_SOCKET"
SOCKET_OWNER_ENV = "WARDEN_SOCKET_OWNER"
RUNTIME_DIR_ENV = "XDG_RUNTIME_DIR"


def default_socket_path_for(euid: int, runtime_dir: Optional[str]) -> str:
    """The default socket for an effective uid and a value of $XDG_RUNTIME_DIR."""
    if euid == 0:
        return "/run/warden/warden.sock"
    if runtime_dir and os.path.isabs(runtime_dir):
        return os.path.join(runtime_dir, "warden", "warden.sock")
    return f"/tmp/warden-{euid}/warden.sock"


def default_socket_path() -> str:
    """Where the agent listens when neither it nor the app is told otherwise."""
    return default_socket_path_for(os.geteuid(), os.environ.get(RUNTIME_DIR_ENV))


def socket_path(explicit: Optional[str] = None) -> str:
    """The agent's socket: explicit, else $WARDEN_SOCKET, else default_socket_path()."""
    if explicit:
        return explicit
    env = os.environ.get(SOCKET_ENV)
    return env if env else default_socket_path()


def expected_socket_owner() -> int:
    """The uid the agent's socket must belong to (root always may):
    $WARDEN_SOCKET_OWNER, a uid or a user name, else the effective uid."""
    v = os.environ.get(SOCKET_OWNER_ENV, "")
    if not v:
        return os.geteuid()
    if v.isdigit():
        return int(v)
    try:
        return pwd.getpwnam(v).pw_uid
    except KeyError:
        raise WardenError(f"{SOCKET_OWNER_ENV}={v!r} is neither a uid nor a known user",
                          code="bad_socket_owner") from None


def check_socket_owner(path: str) -> None:
    """Raises SocketOwnerError unless the socket at path (a symbolic link is
    followed) belongs to root or to expected_socket_owner(). A path that
    cannot be examined passes: connecting to it fails with its own error."""
    try:
        owner = os.stat(path).st_uid
    except OSError:
        return
    expected = expected_socket_owner()
    if owner not in (expected, 0):
        raise SocketOwnerError(path, owner, expected)
