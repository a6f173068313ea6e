"""The deep-network layer (needs the ``torch`` extra)."""
