"""Repository tools: `python scripts/spaces.py list | validate | deploy`."""
