"""A local multi-node cluster: the API server in one process, the controller manager, the scheduler and the
kubelets in another, under a supervisor that `timoneiro up` starts in the background."""
