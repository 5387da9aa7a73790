"""Reports: SQL over the event log."""
