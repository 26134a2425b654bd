"""Several instances on one PostgreSQL database: what they share besides the log (the live relay)."""
