"""``jinshu serve``: the exchange API on its own (uvicorn), outside Airflow's api-server."""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import app


@app.command("serve")
def serve(host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port")] = 8090,
          workers: Annotated[int, typer.Option(help="worker processes")] = 1) -> None:
    """Serve the exchange API (every call authenticated with a principal's bearer token)."""
    import uvicorn

    typer.echo(f"exchange API on http://{host}:{port}/v1 (spec: /openapi.json); Ctrl-C stops it")
    uvicorn.run("jinshu.share.api:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning")
