"""metrics-server: the resource metrics API (metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics) that
`kubectl top` and autoscalers read, served behind the API server's aggregation layer.

scrape reads the kubelets' /metrics/resource, storage keeps each series' last two points and works out
cpu rates from them, api serves the group, auth checks who asks (as an aggregated server does), manifest
holds the objects its deployment creates, and server runs it all as one component."""
