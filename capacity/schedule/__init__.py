"""Scheduled tier runs: the systemd timers and cron lines that start each policy's runs.

``calendar`` says when (pure: from the policy's schedule, through ``run_times``), ``units``
what (pure: the unit files and cron lines as text), ``install`` writes and removes them,
``runmetrics`` writes what a finished run did for node_exporter's textfile collector or a
Pushgateway.
"""
