"""wrk, a C HTTP load generator (installed from Debian if missing): what the server sustains when the client
costs next to nothing. It speaks HTTPS but cannot present a client certificate, so against a secure server
it authenticates with a bearer token."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import orjson

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}

NAME = "@NAME@"  # where creating() puts each request's name
CREATING = """
counter = 0
headers = {["Content-Type"]="application/json"}
for name, value in pairs(wrk.headers) do headers[name] = value end  -- -H's, which wrk.format would drop
request = function()
  counter = counter + 1
  local body = [==[BEFORE]==] .. counter .. [==[AFTER]==]
  return wrk.format("POST", [==[PATH]==], headers, body)
end
"""


def creating(path: str, body: dict) -> str:
    """A wrk script POSTing `body` to `path`, with NAME in it replaced by 1, 2, 3... (a new object each
    time)."""
    before, after = orjson.dumps(body).decode().split(NAME)
    return CREATING.replace("BEFORE", before).replace("AFTER", after).replace("PATH", path)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50: float  # seconds
    p99: float
    errors: int  # non-2xx answers

    def summary(self) -> str:
        return (f"{self.rate:>9.0f} req/s   p50 {self.p50 * 1000:7.2f}ms   p99 {self.p99 * 1000:7.2f}ms"
                + (f"   ({self.errors} errors)" if self.errors else ""))


def wrk(url: str, concurrency: int, seconds: int, script: str | None = None,
        headers: dict[str, str] | None = None) -> WrkResult:
    """Run wrk against `url` (with a Lua `script` making the requests, if given) and read its figures."""
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    args = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            args += ["-s", lua.name]
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(requests=int(done.group(1)), seconds=float(done.group(2)) * UNITS[done.group(3)],
                     rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                     p50=_duration(re.search(r"50%\s+([\d.]+)(\w+)", out)),
                     p99=_duration(re.search(r"99%\s+([\d.]+)(\w+)", out)),
                     errors=int(errors.group(1)) if errors else 0)


def _duration(match: re.Match) -> float:
    return float(match.group(1)) * UNITS[match.group(2)]
