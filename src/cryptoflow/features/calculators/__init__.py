"""Built-in feature calculators: every module here is scanned by the registry (modules starting
with ``_`` are helpers, not scanned)."""
