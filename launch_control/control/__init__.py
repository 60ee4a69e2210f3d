"""The one truth about the launch: its typed state and legal transitions, the operations every
actor (CLI, console, flows, engine) changes it through, the engine's lease, the launch-day timeline,
and the seam to the Prefect flows (looked up at run time).

May import: plan, store, errors, config; ramp and respond only inside operations that run them.
"""
