"""The local stack: AWS plumbing emulated around the real Chalice app (see local/stack.py).

Nothing here implements platform logic: HTTP goes through Chalice's LocalGateway, WebSocket events, schedules,
queue and stream records are delivered to the app's own handlers in the shapes Lambda gives them, and the demo
data is seeded through the public HTTP API.
"""
