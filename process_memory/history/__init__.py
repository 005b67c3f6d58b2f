"""Long-term memory: the history service and the storage backends behind it (chosen in ``registry.py``)."""
