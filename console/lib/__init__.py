"""Shared helpers of the ops console: context (plan, store), login, cached reads."""
