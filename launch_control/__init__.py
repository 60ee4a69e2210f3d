"""Launch Control: runs a software launch end to end from one plan file.

The domain core lives here; it never imports prefect or streamlit (flows/ and console/ are thin
layers over it), so the emergency path stays fast and works when those are down.
"""

__version__ = "0.1.0"
