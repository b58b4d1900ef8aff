"""The kubelet's resource stats: what runtimes report (usage), the host's own (host), and the two forms the
kubelet serves them in, the Summary API (/stats/summary) and Prometheus text (/metrics/resource)."""
