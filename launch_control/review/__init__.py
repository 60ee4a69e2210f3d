"""The review after launch: success criteria, the HTML report and the charts it and the console draw.

May import: plan, store, control, ramp, respond, errors, config. The only room that imports plotly.
"""
