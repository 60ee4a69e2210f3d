"""The launch plan: reading a plan file safely, its typed model and rules, the units it is written in,
the metric catalogue (which metrics exist and what they mean), adapters' settings types and the
registry that refuses unknown adapter types.

May import: errors, config. Imports nothing from the other rooms.
"""
