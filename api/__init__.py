"""FastAPI app: routers per area, auth, dependencies, error mapping."""
