"""The service department's rules: aggregates, their events, value objects, area services."""
