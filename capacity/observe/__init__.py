"""Observing the estate: the metrics exporter (``capacity exporter``).

``metrics`` turns what the tool already computes (``capacity show``'s estate report,
``capacity simulate``'s summary, the apply journal's units) into Prometheus metric families,
pure; ``exporter`` serves them over HTTP and refreshes them on a schedule, so that nothing
expensive happens on a scrape.
"""
