"""Creating and deleting a controller's pods with the events upstream's RealPodControl records about the
controller: SuccessfulCreate "Created pod: web-x2k9p", FailedCreate, SuccessfulDelete, FailedDelete."""

from __future__ import annotations

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import PODS
from timoneiro.controllers.events import EventRecorder


def namespace_terminating(e: BaseException) -> bool:
    """A create refused because the namespace is going away: every other create will fail too."""
    return isinstance(e, ApiError) and e.has_cause("NamespaceTerminating")


class PodControl:
    def __init__(self, client: Client, events: EventRecorder) -> None:
        self.client = client
        self.events = events

    async def create(self, owner: dict, pod: dict, namespace: str) -> dict:
        """Create the pod; `owner` is the ObjectReference events are about. Raises ApiError."""
        try:
            created = await self.client.create(PODS, pod, namespace)
        except ApiError as e:
            if not namespace_terminating(e):
                self.events.warning(owner, "FailedCreate", f"Error creating: {e.message}")
            raise
        self.events.normal(owner, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    async def delete(self, owner: dict, namespace: str, name: str) -> bool:
        """Delete the pod; False if it was already gone. Raises ApiError for other failures."""
        try:
            await self.client.delete(PODS, name, namespace)
        except ApiError as e:
            if e.code == 404:
                return False
            self.events.warning(owner, "FailedDelete", f"Error deleting: {e.message}")
            raise
        self.events.normal(owner, "SuccessfulDelete", f"Deleted pod: {name}")
        return True
