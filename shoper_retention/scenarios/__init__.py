"""What to send, when, and why to stop: one module per scenario (registry.py lists them)."""
