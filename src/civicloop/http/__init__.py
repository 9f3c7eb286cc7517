"""The HTTP entry point: Open311 GeoReport v2, the workflow API, accounts, photos (FastAPI)."""

from civicloop.http.app import create_app
from civicloop.http.context import ApiSettings

__all__ = ["ApiSettings", "create_app"]
