"""Metrics; each metric name carries its protocol (DESIGN.md, "Rules")."""
