"""Incident response: incidents and their SEV policy, on-call and escalation, communication templates,
notifiers, the public status page and post-launch monitoring.

May import: plan, store, control, ramp.analysis (the one breach logic), plane.metrics, errors, config.
"""
