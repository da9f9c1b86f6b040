"""``jinshu``: the command line for platform engineers and departments.

Thin: each command parses its options, calls one function of the package and
prints what it returns.
"""

from jinshu.cli import (  # noqa: F401 (commands)
    audit,
    catalog,
    consent,
    dataset,
    developers,
    history,
    incident,
    keys,
    principals,
    provenance,
    reports,
    serve,
)
from jinshu.cli.common import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
