"""Pick the ports the demo's Airflow listens on, before any long work starts.

The local Airflow needs three consecutive ports: the API/UI on P, the worker and triggerer log
servers on P+1 and P+2. `SHOPSEQ_AIRFLOW_PORT` pins P (an error at once if it is busy);
otherwise the first free block from 8080 up is used, and the choice is said out loud.

Standard library only: `make demo` runs this file with the system Python before the install,
so a busy port is reported in seconds, not after minutes of `pip install`.
"""

from __future__ import annotations

import os
import socket
import sys

PORT_ENV = "SHOPSEQ_AIRFLOW_PORT"
DEFAULT_PORT = 8080
SPAN = 3  # API/UI, worker log server, triggerer log server
TRIES = 20


class PortError(RuntimeError):
    """The pinned port block is busy, or no free block was found."""


def in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on `port`, or the port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def busy_in_block(start: int) -> list[int]:
    """The ports of the block start..start+SPAN-1 that are taken."""
    return [port for port in range(start, start + SPAN) if in_use(port)]


def choose_port(environ: dict[str, str] | None = None, preferred: int = DEFAULT_PORT) -> tuple[int, str]:
    """The first port of a free block (from `preferred` up) and a sentence saying how it was chosen.

    Raises:
        PortError: `SHOPSEQ_AIRFLOW_PORT` names a busy block, is not a port number, or 8080
            and the next TRIES blocks are all busy.
    """
    environ = os.environ if environ is None else environ
    pinned = environ.get(PORT_ENV, "").strip()
    if pinned:
        if not pinned.isdigit() or not 1 <= int(pinned) <= 65535 - SPAN:
            raise PortError(f"{PORT_ENV}={pinned!r} is not a port number; unset it to let the demo pick one")
        port = int(pinned)
        if busy := busy_in_block(port):
            raise PortError(
                f"port {busy[0]} is already in use ({PORT_ENV}={port} needs {port}-{port + SPAN - 1} free); "
                f"stop what listens there, pick another {PORT_ENV}, or unset it to let the demo pick free ports"
            )
        return port, f"Airflow will listen on {port}-{port + SPAN - 1} ({PORT_ENV})"
    for start in range(preferred, preferred + SPAN * TRIES, SPAN):
        if not busy_in_block(start):
            if start == preferred:
                return start, f"Airflow will listen on {start}-{start + SPAN - 1}"
            return start, (
                f"port {preferred} is busy, so Airflow will listen on {start}-{start + SPAN - 1} "
                f"(set {PORT_ENV} to choose)"
            )
    last = preferred + SPAN * TRIES - 1
    raise PortError(f"ports {preferred}-{last} are all busy; set {PORT_ENV} to the first of three free ports")


def main() -> int:
    """Check the demo's ports: print the choice, or the problem and exit 1 (for `make demo`)."""
    try:
        _, said = choose_port()
    except PortError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"shopseq demo: {said}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
