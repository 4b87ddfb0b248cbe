"""Training and caching the Shapes judges (placeholder until moved here)."""

from vidlib.metrics.judges import load_judges

__all__ = ["load_judges"]
