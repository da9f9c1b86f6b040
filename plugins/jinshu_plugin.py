"""jinshu's Airflow plugin: the sharing exchange API at /jinshu/exchange and the governance
pages at /jinshu/governance, with their entries in the Airflow UI's navigation.

Wiring only. Airflow gives a plugin's FastAPI app no authentication of its own:
the exchange authenticates every call with the caller's bearer token (a
principal issued by `jinshu principals add`), never the Airflow session; the
governance pages run Airflow's own access check and read the logged-in user
(`jinshu.ui.airflow_auth`). Nothing touches the store at import; each app
builds what it reads on its first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from jinshu.share.api import create_app as exchange_app
from jinshu.ui import airflow_auth, registry
from jinshu.ui.app import create_app as governance_app

GOVERNANCE = "/jinshu/governance"


class JinshuPlugin(AirflowPlugin):
    name = "jinshu"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads class attributes)
        {"app": exchange_app(), "url_prefix": "/jinshu/exchange", "name": "jinshu exchange API"},
        {"app": governance_app(airflow_auth.identify_with(), airflow_auth.guards(),
                               login_url=airflow_auth.login_redirect),
         "url_prefix": GOVERNANCE, "name": "jinshu governance pages"},
    ]
    external_views = registry.external_views(GOVERNANCE.lstrip("/"))
