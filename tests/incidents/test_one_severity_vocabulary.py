"""One severity vocabulary: both status pages (ours and the Statuspage notifier) map a SEV to the same
component state and impact, and the report's incident badges match its SEV limit lines and the
console charts' limit lines."""

from __future__ import annotations

from launch_control.console.lib import charts

from launch_control.respond import statuspage as our_page
from launch_control.respond.notify import statuspage as notifier
from launch_control.review import colours, report


def test_both_status_pages_say_the_same_for_each_severity():
    for sev, state in (("SEV-1", "major_outage"), ("SEV-2", "partial_outage"), ("SEV-3", "degraded_performance")):
        assert our_page.FROM_SEVERITY[sev] == notifier.COMPONENT_STATUS[sev] == state
        assert our_page.IMPACT[sev] == notifier.IMPACT[sev]
    assert set(notifier.COMPONENT_STATUSES) == set(our_page.ORDER) == set(our_page.STATUS_LABELS)


def test_a_sev_has_one_colour_in_the_report_and_the_charts():
    for level in ("sev1", "sev2", "sev3"):
        incident = f"SEV-{level[-1]}"
        assert colours.INCIDENT_COLOURS[incident] == colours.SEV_COLOURS[level]
        assert report.INCIDENT_COLOURS[incident] == charts.SEV_COLOURS[level] == report.SEV_COLOURS[level]
    assert colours.SEV_COLOURS["sev1"] == "#c92a2a" and report.badge("SEV-1", colours.INCIDENT_COLOURS["SEV-1"])
    assert charts.ROLE_COLOURS is report.ROLE_COLOURS
