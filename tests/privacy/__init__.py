"""Privacy acceptance tests: a corpus of its own with identifiers planted everywhere (issue 10)."""
