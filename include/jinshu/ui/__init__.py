"""The governance pages and the leadership cockpit, inside the Airflow UI.

* :mod:`~jinshu.ui.registry`: the pages, one module each under :mod:`jinshu.ui.pages`
  (``PAGE``: its slug, bilingual title, template and query function);
* :mod:`~jinshu.ui.view`: what a page's query function is given (the store, the catalog,
  the clock and who is looking) and :class:`~jinshu.ui.view.Viewer`, what that person may do;
* :mod:`~jinshu.ui.charts`: inline SVG charts, drawn on the server;
* :mod:`~jinshu.ui.render`: Jinja2 (autoescaped) and the leak guard over every page;
* :mod:`~jinshu.ui.app`: the FastAPI app the plugin mounts at ``/jinshu/governance``;
* :mod:`~jinshu.ui.airflow_auth`: who the Airflow user is and what the auth manager lets them do.

Server-rendered HTML with no script and no external asset: the pages work offline.
"""
