"""The name a Celery worker records on the task instances it runs (Airflow's hostname_callable).

Two workers on one machine share its host name, so each gets its own through
SHOPSEQ_WORKER_NAME; a worker started without it records the machine's name as usual.
Kept import-free: every task process of a worker imports it.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME_ENV = "SHOPSEQ_WORKER_NAME"


def worker_hostname() -> str:
    """$SHOPSEQ_WORKER_NAME when set, else the machine's fully qualified name."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()
