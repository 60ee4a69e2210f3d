"""Rate limits: allowed and limited decisions per policy, and the orgs closest to their limits."""

from __future__ import annotations

import datetime as dt

import streamlit as st
from launch_control.console.lib import context, ratelimits, ui

ctx = context.get()
plan, store = ctx.plan, ctx.store

st.title("Rate limits")
policies = plan.rate_limits.policies
st.dataframe(
    [{"policy": p.name, "path": p.path, "limit": f"{p.rate:g} per {ui.duration(p.window)}", "burst": p.burst,
      "methods": ", ".join(p.methods) or "all", "critical": "yes" if p.critical else ""} for p in policies],
    hide_index=True, width="stretch", key="policies",
)
if plan.rate_limits.org_wide:
    wide = plan.rate_limits.org_wide
    st.caption(f"Every org together: {wide.limit[0]:g} per {ui.duration(wide.limit[1])} (burst {wide.burst}); "
               f"failure mode {plan.rate_limits.failure_mode}.")

st.subheader("Decisions per policy")
urls = ratelimits.metrics_urls(plan)
totals, problems = ratelimits.decisions(urls) if urls else ({}, ["no metrics URL: the plan's metric source is "
                                                                 f"not the gateway; set {ratelimits.URLS_ENV}"])
if totals:
    rows = []
    for policy, outcomes in sorted(totals.items()):
        allowed = sum(v for k, v in outcomes.items() if "allowed" in k)
        limited = sum(v for k, v in outcomes.items() if "limited" in k and "shadow" not in k)
        share = limited / (allowed + limited) if allowed + limited else 0.0
        rows.append({"policy": policy, "allowed": int(allowed), "limited": int(limited),
                     "limited share": f"{share * 100:.1f}%",
                     "other": ", ".join(f"{k} {int(v)}" for k, v in sorted(outcomes.items())
                                        if "allowed" not in k and "limited" not in k)})
    st.dataframe(rows, hide_index=True, width="stretch", key="decisions")
    st.caption("Counted since each process started, from " + ", ".join(urls))
else:
    st.info("No rate-limit data: " + ("; ".join(problems) if problems else
                                       "the metrics answered but hold no rate-limit decisions yet."))

st.subheader("Orgs closest to their limits")
orgs, why_not = ratelimits.closest_orgs(plan)
if orgs:
    st.dataframe([{"org": u.org, "limit": u.limit, "bucket used": u.used, "full again in": ui.duration(u.reset_seconds)}
                  for u in orgs], hide_index=True, width="stretch", key="orgs",
                 column_config={"bucket used": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                                               format="percent")})
else:
    st.info(f"No per-org data: {why_not}" if why_not else "No org is using its limit right now.")

st.subheader("429s recorded by the ramp")
since = ui.now() - dt.timedelta(hours=1)
counts = {role: store.sample_stats("rate_limited", version=role, since=since) for role in ("stable", "canary")}
if any(c["count"] for c in counts.values()):
    cols = st.columns(2)
    for col, (role, stats) in zip(cols, counts.items(), strict=True):
        col.metric(f"{role}: 429s in the last hour", f"{int(stats['sum'] or 0)}")
else:
    st.caption("No 429s recorded in the last hour.")
