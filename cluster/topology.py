"""Whether the addresses this process hands to show actors work from every node of the Ray cluster.

Show actors run on whichever node Ray picks, and they connect to PostgreSQL and Redis with the URLs the API
process gives them (``ActorConfig``). A URL that only works on this machine (loopback, a Unix socket, an
embedded server listening on 127.0.0.1) is fine while every Ray node is this machine, and silently breaks
every show placed on another machine (each activation fails; clients get 503 forever). ``main.py`` refuses
to start in that situation and says which setting to change; with an external cluster that is one machine
today it only warns, since nodes may join later.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from urllib.parse import parse_qs, unquote, urlsplit


def machine_local(url: str) -> str | None:
    """Why ``url`` reaches its server only from this machine, or None if another machine could use it."""
    parts = urlsplit(url)
    if parts.scheme in {"unix", "redis+unix"}:
        return "a Unix socket"
    socket_dirs = [h for h in parse_qs(parts.query).get("host", []) if h.startswith("/")]
    if socket_dirs:
        return f"a Unix socket in {socket_dirs[0]}"
    host = unquote(parts.hostname or "").strip("[]")
    if host.startswith("/"):
        return f"a Unix socket in {host}"
    if not host:
        # libpq with no host uses its default Unix socket; Redis defaults to localhost.
        return "a Unix socket (no host given)" if parts.scheme.startswith("postgres") else "localhost"
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return f"the loopback address {host}"
    except ValueError:
        pass  # a host name: assume the cluster resolves it
    return None


def unreachable_from_cluster(urls: Mapping[str, str], node_hosts: Collection[str]) -> list[str]:
    """One message per URL in ``urls`` (setting name → URL) that show actors on other machines of a cluster
    spanning ``node_hosts`` (the nodes' IP addresses) could not use. Empty if the cluster is one machine."""
    if len(set(node_hosts)) <= 1:
        return []
    problems = []
    for name, url in urls.items():
        reason = machine_local(url)
        if reason is not None:
            problems.append(
                f"{name} points at {reason}, which only this machine can reach, but the Ray cluster spans "
                f"{len(set(node_hosts))} machines: show actors placed elsewhere could not connect. Set {name} to "
                "an address every Ray node can reach (see docs/deploy.md)."
            )
    return problems


def ray_node_hosts() -> list[str]:
    """The IP addresses of the live nodes of the Ray cluster this process is connected to."""
    import ray

    nodes: list[dict[str, object]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [str(node["NodeManagerAddress"]) for node in nodes if node.get("Alive")]
