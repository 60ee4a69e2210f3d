"""The review after launch: success criteria, the HTML report with its inline SVG charts, and the
chart marks (y-axis scale, markers) that the report and the console's plotly figures share.

May import: plan, store, control, ramp, respond, errors, config. Never plotly: the plotly figures are
the console's (launch_control.console.lib.charts).
"""
