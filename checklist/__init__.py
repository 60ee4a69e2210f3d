"""The shipped launch plan (promptforge-v3.yaml), its runbook and communication templates: package data,
installed as ``launch_control.checklist`` (setup.py maps this folder) and found through its import spec."""
