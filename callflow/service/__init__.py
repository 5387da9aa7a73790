"""The imperative shell around the engine: what every provider shares."""
