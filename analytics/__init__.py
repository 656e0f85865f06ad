"""DuckDB analytic tables, loaders from events, named KPI queries, exports."""
