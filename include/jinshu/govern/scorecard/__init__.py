"""Quality reports: GX Data Docs and a department scorecard, built from the store.

* :mod:`~jinshu.scorecard.facts`: what the reports show, read from the store (:func:`collect`);
* :mod:`~jinshu.scorecard.text`: :func:`quality_summary` / :func:`render_quality_text`, for
  ``--json`` and the terminal;
* :mod:`~jinshu.scorecard.page`: the static bilingual ``scorecard.html``, rendered from
  ``templates/scorecard.html.j2`` (Jinja2, autoescaped; :mod:`~jinshu.scorecard.markup` holds the
  environment and the chart's geometry, :mod:`~jinshu.scorecard.words` the labels);
* :mod:`~jinshu.scorecard.docs`: GX Data Docs, ``data-docs/index.html``;
* :mod:`~jinshu.scorecard.publish`: :func:`build_reports`, both behind the leak guard.
"""

from jinshu.govern.scorecard.docs import DOCS_BATCHES, DOCS_SITE, build_data_docs
from jinshu.govern.scorecard.facts import SCORECARD_SQL, collect, pass_rates
from jinshu.govern.scorecard.markup import CHART_BATCHES, chart_svg
from jinshu.govern.scorecard.page import render_scorecard
from jinshu.govern.scorecard.publish import build_reports
from jinshu.govern.scorecard.text import quality_summary, render_quality_text
from jinshu.govern.scorecard.words import CYCLE_WORDS, KIND_WORDS, describe

__all__ = [
    "CHART_BATCHES", "CYCLE_WORDS", "DOCS_BATCHES", "DOCS_SITE", "KIND_WORDS",
    "SCORECARD_SQL", "build_data_docs", "build_reports", "chart_svg", "collect", "describe",
    "pass_rates", "quality_summary", "render_quality_text", "render_scorecard",
]
