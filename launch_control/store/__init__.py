"""The launch's durable records: the SQLAlchemy store — ``db.Store``, the facade, over one
connection owner (``connection``), the tables (``schema``) and one module of records per aggregate
(launch state, audit, checklist, samples, decisions, incidents, rollbacks, notifications,
accounts, status) — the standard-library sqlite3 fast path and the last good plan the hot
commands read.

May import: plan, errors, config.
"""
