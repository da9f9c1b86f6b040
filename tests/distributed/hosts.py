"""The host name each native process reports to Airflow (``[core] hostname_callable``).

In Compose every container has a host name of its own; natively every process
runs on this machine, so the harness names each one (``JINSHU_TEST_HOST``:
``worker-a``, ``worker-b``, ``control``) and task instances say which worker ran them.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("JINSHU_TEST_HOST") or socket.getfqdn()
