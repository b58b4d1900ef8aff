"""An HTTP-serving test image built from Debian's nginx package, laid out as the official nginx image is:
the welcome page in /usr/share/nginx/html, a server on port 80 in /etc/nginx/conf.d/default.conf, the
access log to stdout and the error log to stderr (so `kubectl logs` shows them), `nginx -g 'daemon off;'`
run as root with workers as the nginx user (101), stopped by SIGQUIT (a graceful shutdown).

It is Debian's nginx (the version `nginx -v` prints), not the official image's build: the cluster serves it
under the names of the official image (docker.io's nginx and public.ecr.aws/nginx/nginx, see local.py) so
that manifests written for those run. busybox's applets and bash give it a shell for `kubectl exec`.

`python -m timoneiro.images.nginx DIR` writes it into the OCI layout DIR as nginx:VERSION.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from timoneiro.images.oci import Entry, ImageSpec, write_layout
from timoneiro.images.rootfs import accounts, busybox_userland, host_files, merge, program

WELCOME_PAGE = Path("/usr/share/nginx/html/index.html")  # nginx-common's "Welcome to nginx!"
MIME_TYPES = Path("/etc/nginx/mime.types")  # nginx-common's
NGINX_UID = 101  # the official image's nginx user and group

NGINX_CONF = """\
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;

    sendfile           on;
    keepalive_timeout  65;

    include /etc/nginx/conf.d/*.conf;
}
"""

DEFAULT_SERVER = """\
server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

ERROR_PAGE = """\
<!DOCTYPE html>
<html>
<head><title>Error</title></head>
<body>
<h1>An error occurred.</h1>
<p>The page you are looking for is currently unavailable. Please try again later.</p>
</body>
</html>
"""


def nginx_version() -> str:
    """1.22.1, as the installed nginx reports itself."""
    banner = subprocess.run([str(program("nginx")), "-v"], capture_output=True, text=True).stderr
    match = re.search(r"nginx/([0-9.]+)", banner)
    if match is None:
        raise RuntimeError(f"nginx -v printed {banner[:80]!r}")
    return match.group(1)


def _text(path: str, text: str, mode: int = 0o644) -> Entry:
    return Entry(path, text.encode(), mode)


def nginx_image() -> ImageSpec:
    binaries = host_files([program("nginx"), program("bash")])
    data = host_files([WELCOME_PAGE, MIME_TYPES], with_libraries=False)
    config = [_text("etc/nginx/nginx.conf", NGINX_CONF), Entry("etc/nginx/conf.d"),
              _text("etc/nginx/conf.d/default.conf", DEFAULT_SERVER),
              _text("usr/share/nginx/html/50x.html", ERROR_PAGE),
              Entry("var/log/nginx"), Entry("var/log/nginx/access.log", link="/dev/stdout"),
              Entry("var/log/nginx/error.log", link="/dev/stderr"),
              Entry("var/lib/nginx"), Entry("var/cache/nginx"), Entry("var/run"), Entry("run")]
    users = accounts([("nginx", NGINX_UID, "/nonexistent", "/bin/false")])
    return ImageSpec(merge(busybox_userland(), binaries, data, config, users),
                     cmd=["nginx", "-g", "daemon off;"], exposed_ports=["80/tcp"], stop_signal="SIGQUIT",
                     env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          f"NGINX_VERSION={nginx_version()}"])


if __name__ == "__main__":
    layout = Path(sys.argv[1])
    digest = write_layout(layout, nginx_image(), f"nginx:{nginx_version()}")
    print(f"oci:{layout}:nginx:{nginx_version()} {digest}")
