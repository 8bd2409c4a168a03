"""genvault's benchmarks: a realistic history at scale, measured against targets.

``scripts/benchmark`` (or ``python -m benchmarks``) builds the data set in a
real PostgreSQL (by default genvault's embedded server), runs every section and
writes BENCHMARKS.md. ``--small`` is a quick run; ``--help`` lists the options.

The sections, one module each, in the order of the report: ``_history``
(pages), ``_rls`` (what the policies cost), ``_search``, ``_create`` (one create,
its round trips, many at once), ``_cli``, ``_export``, ``_statistics`` and
``_filters`` (history pages under each filter and order).
"""
