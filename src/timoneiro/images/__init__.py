"""Container images made on the machine (OCI layouts built in Python) and a local registry to serve them."""
