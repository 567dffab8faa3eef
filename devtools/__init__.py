"""Development-only tools: the Go stand-in, the development IdP, demo data.

Nothing under ``devtools`` is imported by production code.
"""
