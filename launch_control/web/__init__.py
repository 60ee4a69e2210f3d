"""Serving and process plumbing: ASGI servers and child processes on loopback, the watchdog that
reaps them, HTTP connection limits, the standard-library HTTP client of the emergency path, and the
console's accounts and sign-in.

May import: store, errors, config.
"""
