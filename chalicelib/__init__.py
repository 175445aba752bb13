"""All code of the sim-trading platform. See docs/architecture.md for the map."""
