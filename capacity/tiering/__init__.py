"""The tiering engine: scan hosts into a catalogue, plan moves and expiry from the inventory's
policies (pure), and apply a plan through a journaled state machine that never loses data."""
