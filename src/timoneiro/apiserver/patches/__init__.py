"""The three classic PATCH bodies (JSON patch, JSON merge patch, strategic merge patch) as kube-apiserver
applies them; timoneiro.apiserver.patch is the entry point the handlers call."""
