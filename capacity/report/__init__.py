"""Turning results into tables, documents, charts and machine-readable files."""
