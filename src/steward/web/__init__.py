"""HTTP interface: FastAPI routers per area, one error shape."""
