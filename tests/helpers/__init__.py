"""Helpers the tests share, one module per concern; the fixtures are in conftest.py (Copier's own split)."""
