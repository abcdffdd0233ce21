"""Turning results into tables, documents, charts and machine-readable files."""

UNITS_LINE = ("storage in decimal units as vendors quote it (1 TB = 10^12 bytes), RAM in binary"
              " units (1 TiB = 2^40 bytes)")
"""The one units convention of every table and chart the tool prints."""
