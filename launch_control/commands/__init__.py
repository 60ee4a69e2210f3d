"""CLI subcommands, one module per area. Each module defines ``register(subparsers)``.

Modules here are imported on every CLI start, so they import only the standard library at the
top and do their real imports inside the handlers (``--status`` must answer in well under 1 s).
"""
