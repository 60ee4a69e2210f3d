"""The canary ramp: the engine and its gates (analysis, sequential tests, pooling, feasibility), the
observations they judge, the launch-day stages before the ramp (preflight, freeze & tag, deploy),
backtesting, and the emergency rollback.

May import: plan, store, control, plane, respond, errors, config.
"""
