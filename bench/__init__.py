"""The benchmark of `make bench`: a generated multi-tenant database, the API and its baselines
under a load driver, and the analytics measurement (docs/performance.md)."""
