"""jinshu's Airflow plugin: the sharing exchange API, mounted on the api-server at /jinshu/exchange.

Airflow gives a plugin's FastAPI app no authentication of its own: the
exchange authenticates every call with the caller's bearer token (a principal
issued by `jinshu principals add`), never the Airflow session. Nothing touches
the store at import; the service is built on the first call.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from jinshu.share.api import create_app


class JinshuPlugin(AirflowPlugin):
    name = "jinshu"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads class attributes)
        {"app": create_app(), "url_prefix": "/jinshu/exchange", "name": "jinshu exchange API"},
    ]
