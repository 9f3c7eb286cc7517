"""The web command center (指挥中心): the read models behind the big screen, role workspaces, case page,
inspector phone app and citizen page (live hub, KPI cache, map layers, case lists), and their templates
and static assets. The HTTP routes that serve them are in :mod:`civicloop.http` (see docs/web.md).
"""

from __future__ import annotations

from civicloop.web.settings import TileLayer, WebSettings
from civicloop.web.state import WebState

__all__ = ["TileLayer", "WebSettings", "WebState"]
