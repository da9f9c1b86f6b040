"""jinshu (晋数): the Shanxi government data platform's package.

Everything here runs and tests without a scheduler; the DAGs in ``dags/``
only wire these functions into Airflow tasks.
"""
