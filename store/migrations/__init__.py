"""Alembic migrations of the store, shipped inside the package so an installed leadscore can
migrate a database it finds (Store.open runs them to head)."""
