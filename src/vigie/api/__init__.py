"""The centre's REST API (FastAPI): routers per resource, authentication and roles."""

from vigie.api.app import create_app

__all__ = ["create_app"]
