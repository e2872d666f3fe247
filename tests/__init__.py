"""The test suite (a package, so its helper modules import as `tests.*` under bare `pytest`)."""
