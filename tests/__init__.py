"""The test suite (a package, so plain `pytest` imports its helpers)."""
