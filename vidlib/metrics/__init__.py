"""Metrics; each metric name carries its protocol (the book's "How this book is built",
``book/architecture.md``)."""
