"""Controllers record events with the recorder every component shares (client/events.py): in the
background, correlated as client-go's recorder correlates them."""

from timoneiro.client.events import NORMAL, WARNING, EventRecorder

__all__ = ["NORMAL", "WARNING", "EventRecorder"]
