"""capacity: infrastructure capacity planning and storage-tier management."""

__version__ = "0.1.0"
