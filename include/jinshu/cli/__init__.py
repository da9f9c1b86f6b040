"""``jinshu``: the command line for platform engineers and departments.

Thin: each command parses its options, calls one function of the package and
prints what it returns.
"""

from jinshu.cli import audit, catalog, consent, dataset, incident, keys, reports  # noqa: F401 (commands)
from jinshu.cli.common import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
