"""The HTTP layer: every route in one table, thin handlers, tokens, JSON errors, the live stream, static files."""
