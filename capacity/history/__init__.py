"""Usage history: what the estate really held, day by day (``capacity collect`` writes it;
``capacity forecast``, ``simulate --calibrate`` and ``capacity backtest`` read it)."""
