"""Takes a lock N times through the Python client; while holding it,
appends a start and an end line (with the fencing token) to a shared log."""

import os
import sys
import time

import warden


def main() -> None:
    socket, path, log, count, who = sys.argv[1:6]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    with warden.connect(socket) as client:
        print("ready", flush=True)
        sys.stdin.readline()  # the test starts every app at once
        for _ in range(int(count)):
            with client.lock(path) as lease:
                os.write(fd, f"S {who} {lease.token}\n".encode())
                time.sleep(0.002)  # the work the lock protects
                os.write(fd, f"E {who} {lease.token}\n".encode())
    print("done", flush=True)


if __name__ == "__main__":
    main()
