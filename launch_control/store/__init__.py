"""The launch's durable records: the SQLAlchemy store (one connection owner, schema upgrades), the
standard-library sqlite3 fast path and the last good plan the hot commands read.

May import: plan, errors, config.
"""
