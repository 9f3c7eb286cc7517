"""Evaluation and analysis (综合评价 and 研判): KPIs from the event log, asset rates, hotspots, reports.

``engine`` computes counters, rates, scores and ranks in DuckDB over the event store (``source``);
``assets`` the street-light and facility rates; ``analysis`` hotspots, profiles and forecasts; ``report``
the monthly evaluation report (xlsx, PDF, HTML); ``importer`` replays another system's history; ``cli``
the commands. The pure formulas live in :mod:`civicloop.kpi.core`.
"""
