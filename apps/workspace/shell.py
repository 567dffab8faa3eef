"""What the workspace contributes to the start page (registered in ``WorkspaceConfig.ready``):
the records this person opened recently.
"""

from __future__ import annotations

from django.http import HttpRequest

from apps.home import registry
from apps.identity.roles import ALL_ROLES
from apps.workspace.selectors import recent_records


def recent_card(request: HttpRequest) -> registry.CardContent:
    return registry.CardContent(
        title="Opened recently",
        template="workspace/start_recent.html",
        context={"records": recent_records(owner=request.user)},
    )


def register() -> None:
    registry.register_card(
        registry.StartCard(key="workspace.recent", roles=ALL_ROLES, build=recent_card, order=50)
    )
