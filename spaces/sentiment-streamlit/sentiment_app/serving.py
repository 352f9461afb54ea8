"""A Space's API deployed on Ray Serve from its config file (Ray Serve's own format).

Knows nothing of the model: `serve.py` passes its deployment class. Locally Ray starts on
127.0.0.1 (tables.start_ray) and the command serves until stopped; with RAY_ADDRESS set the app
goes to that cluster and the command returns once it runs (Serve keeps it running).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

LOOPBACK_FLAG = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Locally, Ray keeps to 127.0.0.1 only if this flag is set before ray is first imported: serve.py
# imports ray from here (`serve`), never before. Ray's own processes (the replicas) inherit it.
if "ray" not in sys.modules and not os.environ.get("RAY_ADDRESS"):
    os.environ[LOOPBACK_FLAG] = "0"

import ray.serve._private.replica as serve_replica  # noqa: E402
import yaml  # noqa: E402
from ray import serve  # noqa: E402
from ray.serve.schema import ServeDeploySchema  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from .tables import start_ray  # noqa: E402 (relative: the file is copied into both Spaces)

__all__ = ["ReplicaHeaders", "add_arguments", "deploy", "replica_name", "serve"]

REPLICA_HEADER = "X-Serve-Replica"  # which replica (and on which host) answered
REQUEST_ID = b"x-request-id"


def _replica_grpc_on_loopback() -> None:
    """Ray Serve 2.60's replicas open their gRPC server on every interface ("[::]:0", written in
    its code), even when Ray runs on 127.0.0.1 alone: there, bind it to 127.0.0.1 instead."""
    add_port = serve_replica.add_port_to_grpc_server  # fails loudly if a new Ray renamed it

    def on_loopback(server: Any, address: str) -> int:
        return add_port(server, address.replace("[::]", "127.0.0.1"))

    serve_replica.add_port_to_grpc_server = on_loopback


if os.environ.get(LOOPBACK_FLAG) == "0":  # here and in the replicas of a local run
    _replica_grpc_on_loopback()


def read_config(path: Path) -> dict[str, Any]:
    """The file checked against Serve's schema (`serve deploy` takes the same file)."""
    config = yaml.safe_load(path.read_text())
    ServeDeploySchema.model_validate(config)  # a typo stops here, naming the field
    return config


def deployment_options(
    config: dict[str, Any], name: str, env_prefix: str, replicas: int | None
) -> dict[str, Any]:
    """The options of deployment `name`: the file's, with the caller's `env_prefix*` variables
    added to the replicas' environment (they win over the file's) and `replicas` fixed if given."""
    (app,) = config["applications"]
    options = next(dict(d) for d in app["deployments"] if d["name"] == name)
    options.pop("name")
    actor = options["ray_actor_options"] = dict(options.get("ray_actor_options") or {})
    runtime_env = actor["runtime_env"] = dict(actor.get("runtime_env") or {})
    mine = {k: v for k, v in os.environ.items() if k.startswith(env_prefix)}
    runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), **mine}
    if replicas is not None:
        options.pop("autoscaling_config", None)
        options["num_replicas"] = replicas
    return options


def deploy(
    deployment: serve.Deployment,
    args: argparse.Namespace,
    *,
    env_prefix: str,
    host: str,
    port: int,
) -> int:
    """Deploy `deployment` as the config file says, then serve until SIGINT/SIGTERM when Ray
    was started here; returns the exit code."""
    config = read_config(args.config)
    (app,) = config["applications"]
    options = deployment_options(config, deployment.name, env_prefix, args.replicas)
    on_cluster = bool(os.environ.get("RAY_ADDRESS"))
    ray, _ = start_ray(env_prefix)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(
            deployment.options(**options).bind(),
            name=app["name"],
            route_prefix=app.get("route_prefix", "/"),
        )
        print(f"{app['name']} serves on http://{host}:{port}{app.get('route_prefix', '/')}")
        if on_cluster:
            return 0
        while not stop.wait(1):
            pass
        serve.shutdown()
    finally:
        ray.shutdown()
    return 0


def add_arguments(parser: argparse.ArgumentParser, default_config: Path) -> None:
    parser.add_argument(
        "--config", type=Path, default=default_config, help=f"(default: {default_config.name})"
    )
    parser.add_argument(
        "--replicas", type=int, help="a fixed number of replicas instead of autoscaling"
    )


def replica_name() -> str:
    """`<replica id>@<host name>` of the replica this code runs in."""
    return f"{serve.get_replica_context().replica_id.unique_id}@{socket.gethostname()}"


class ReplicaHeaders:
    """ASGI middleware, outermost: every answer names the replica that gave it (REPLICA_HEADER),
    and leaves X-Request-ID to Serve's proxy, which adds the request's id to every answer itself
    (the app's copy, the same id, would make it appear twice)."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app, self.name = app, name.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from_proxy = any(k == REQUEST_ID for k, _ in scope["headers"])

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not (from_proxy and k.lower() == REQUEST_ID)
                ]
                headers.append((REPLICA_HEADER.lower().encode(), self.name))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, named)
