"""The Container Runtime Interface: a gRPC client of runtime.v1, and a containerd of timoneiro's own to
speak it to. The kubelet's runtime over it is timoneiro.kubelet.runtime.cri.CriRuntime."""
