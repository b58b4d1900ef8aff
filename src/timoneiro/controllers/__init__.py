"""Controllers: each a sync(key) on a shared work-queue loop, fed by informers, talking only to the API server."""
