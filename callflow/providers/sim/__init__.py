"""A line on a virtual clock: simulated advisors and live queues, driven by the real engine."""
