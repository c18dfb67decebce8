"""Helpers for the tests: child-process programs (``python -m tests._support.peer`` ...) and the code tests share.

Test modules import from here, never from ``conftest`` (which holds only fixtures and hooks).
"""
