"""Ports and process groups for servers the tests start themselves."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now. The sockets are held together so the kernel hands out `count`
    different ports; the small race until the server binds them is accepted."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def signal_group(group: int, signum: int) -> bool:
    """Signal a process group; False when none of its processes is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


def group_alive(group: int) -> bool:
    """Whether a process of the group is still alive; zombies (exited, not yet reaped by
    init) hold no sockets and do not count. Read from /proc where there is one."""
    proc = Path("/proc")
    if not proc.is_dir():
        return signal_group(group, 0)
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state != "Z":
            return True
    return False
