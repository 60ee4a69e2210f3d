"""The launch plan: reading a plan file safely, its typed model and rules, the units it is written in,
adapters' settings types and the registry that refuses unknown adapter types.

May import: errors, config. Imports nothing from the other rooms.
"""
