"""A case's whole history out and in, in open formats: export, verify, import (README, "Export
and import"). Archives are zip files of JSON, JSON Lines, GeoJSON, GPX, HTML and PDF members,
with a manifest signed by the centre's Ed25519 key."""
