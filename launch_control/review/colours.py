"""The review's palette: one colour per version role and SEV level, shared by the HTML report and
the plotly charts the console draws, so a SEV-1 limit line and a SEV-1 incident badge match.

(The console's own badges use Streamlit's named markdown colours — console/lib/ui.py's SEV_COLOUR —
because Streamlit markdown takes colour names, not hex.)
"""

ROLE_COLOURS = {"stable": "#1f77b4", "canary": "#ff7f0e"}
# Keyed as plan limits are (sev1 … sev3), and as incidents name their severity (SEV-1 … SEV-3).
SEV_COLOURS = {"sev3": "#d4a017", "sev2": "#e8590c", "sev1": "#c92a2a"}
INCIDENT_COLOURS = {f"SEV-{level[-1]}": colour for level, colour in sorted(SEV_COLOURS.items())}
