"""The ops console's entrypoint: page config, session state, sign-in and navigation.

Run with ``launch-control console`` (or ``streamlit run console/app.py``); installed, it is the
package ``launch_control.console`` (setup.py maps this folder), so its modules import as
``launch_control.console.lib...`` from a checkout and from a wheel alike. Pages live in
``console/pages/<section>/``; the Controls page is listed only for launch leads (and refuses anyone else).
"""

from __future__ import annotations

import streamlit as st
from launch_control.console.lib import auth_ui, context, header

from launch_control.errors import LaunchControlError

st.set_page_config(page_title="Launch Control", page_icon=":material/rocket_launch:", layout="wide")

for key, default in (("lc_user", None), ("lc_dismissed", [])):
    st.session_state.setdefault(key, default)

try:
    ctx = context.context()
except LaunchControlError as exc:
    st.title("Launch Control")
    st.error(f"The console cannot start: {exc}")
    st.stop()

st.session_state["lc_context"] = ctx
with st.sidebar:
    release = ctx.plan.release
    st.markdown(f"### :material/rocket_launch: Launch Control\n"
                f"**{release.product} {release.version}** · stable {release.stable_version}")
user = auth_ui.sidebar(ctx.store)
st.session_state["lc_current_user"] = (
    {"name": user.name, "role": user.role, "source": user.source} if user is not None else None
)

page = st.Page  # short alias for the table below
pages: dict[str, list[st.Page]] = {
    "Launch": [
        page("pages/launch/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        page("pages/launch/checklist.py", title="Checklist", icon=":material/checklist:"),
        page("pages/launch/timeline.py", title="Timeline", icon=":material/timeline:"),
    ],
    "Observe": [
        page("pages/observe/metrics.py", title="Metrics", icon=":material/monitoring:"),
        page("pages/observe/rate_limits.py", title="Rate limits", icon=":material/speed:"),
    ],
    "Respond": [
        page("pages/respond/incidents.py", title="Incidents and runbook", icon=":material/emergency:"),
    ],
    "Review": [
        page("pages/review/criteria.py", title="Success criteria", icon=":material/fact_check:"),
    ],
}
pages["Review"].append(page("pages/review/audit.py", title="Audit and events", icon=":material/history:"))
# Registered for everyone so its URL answers with a plain refusal, but listed only for launch leads;
# the page itself checks the role again before drawing any control.
lead = user is not None and user.can("control")
pages["Respond"].insert(0, page("pages/respond/controls.py", title="Controls", icon=":material/tune:",
                                visibility="visible" if lead else "hidden"))

navigation = st.navigation(pages)
header.render(ctx.plan, ctx.store)
navigation.run()
