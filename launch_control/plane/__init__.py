"""The traffic plane and the things the launch acts on: the built-in gateway, the routers that set
the split (gateway, nginx, haproxy, vercel), metric sources, deployers and the demo service.

May import: plan, store, protect, web, errors, config.
"""
