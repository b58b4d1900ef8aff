"""The streaming protocols of kubectl exec, attach and port-forward: WebSocket channels and SPDY."""
