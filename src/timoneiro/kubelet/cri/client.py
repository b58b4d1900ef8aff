"""An asynchronous client of a CRI runtime (containerd, CRI-O) over its unix socket: RuntimeService and
ImageService of runtime.v1, one method per call, taking and answering the messages of api.proto.

The gRPC method paths and message classes come from the proto's service descriptors, so a call declared
there is a call here. Errors are grpc.aio.AioRpcError, with the runtime's status code and details.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import message_factory

from timoneiro.kubelet.cri import api_pb2 as api

MAX_MESSAGE = 16 * 1024 * 1024  # as the kubelet's CRI client allows: a big ListContainers stays one message


def _calls(channel: grpc.aio.Channel) -> dict[str, Callable[..., Awaitable]]:
    calls: dict[str, Callable[..., Awaitable]] = {}
    for service in api.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            response = message_factory.GetMessageClass(method.output_type)
            calls[method.name] = channel.unary_unary(
                f"/{service.full_name}/{method.name}",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response.FromString,
            )
    return calls


class CriClient:
    """One channel to the runtime; make it inside the event loop that uses it."""

    def __init__(self, socket_path: str, timeout: float = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout  # per call, unless a call gives its own; pulls and stops can be slow
        self._channel = grpc.aio.insecure_channel(
            f"unix://{socket_path}",
            options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                     ("grpc.max_send_message_length", MAX_MESSAGE)])
        self._calls = _calls(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: str, request, timeout: float | None = None):
        return await self._calls[method](request, timeout=timeout or self.timeout)

    # the runtime

    async def version(self, timeout: float | None = None) -> api.VersionResponse:
        return await self._call("Version", api.VersionRequest(version="v1"), timeout)

    async def status(self, verbose: bool = False) -> api.StatusResponse:
        return await self._call("Status", api.StatusRequest(verbose=verbose))

    async def update_runtime_config(self, pod_cidr: str) -> None:
        config = api.RuntimeConfig(network_config=api.NetworkConfig(pod_cidr=pod_cidr))
        await self._call("UpdateRuntimeConfig", api.UpdateRuntimeConfigRequest(runtime_config=config))

    # sandboxes

    async def run_pod_sandbox(self, config: api.PodSandboxConfig, runtime_handler: str = "") -> str:
        request = api.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        return (await self._call("RunPodSandbox", request)).pod_sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call("StopPodSandbox", api.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call("RemovePodSandbox", api.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def pod_sandbox_status(self, sandbox_id: str, verbose: bool = False) -> api.PodSandboxStatusResponse:
        return await self._call("PodSandboxStatus",
                                api.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose))

    async def list_pod_sandbox(self, filter: api.PodSandboxFilter | None = None) -> list[api.PodSandbox]:
        return list((await self._call("ListPodSandbox", api.ListPodSandboxRequest(filter=filter))).items)

    # containers

    async def create_container(self, sandbox_id: str, config: api.ContainerConfig,
                               sandbox_config: api.PodSandboxConfig) -> str:
        request = api.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=config,
                                             sandbox_config=sandbox_config)
        return (await self._call("CreateContainer", request)).container_id

    async def start_container(self, container_id: str) -> None:
        await self._call("StartContainer", api.StartContainerRequest(container_id=container_id))

    async def stop_container(self, container_id: str, timeout: int) -> None:
        """timeout: the grace period in seconds; the call itself may take that long and more."""
        await self._call("StopContainer", api.StopContainerRequest(container_id=container_id, timeout=timeout),
                         self.timeout + timeout)

    async def remove_container(self, container_id: str) -> None:
        await self._call("RemoveContainer", api.RemoveContainerRequest(container_id=container_id))

    async def list_containers(self, filter: api.ContainerFilter | None = None) -> list[api.Container]:
        return list((await self._call("ListContainers", api.ListContainersRequest(filter=filter))).containers)

    async def container_status(self, container_id: str, verbose: bool = False) -> api.ContainerStatusResponse:
        return await self._call("ContainerStatus",
                                api.ContainerStatusRequest(container_id=container_id, verbose=verbose))

    # commands and streams

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int = 0) -> api.ExecSyncResponse:
        """timeout: seconds the command may run (0: no limit)."""
        request = api.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout)
        return await self._call("ExecSync", request, self.timeout + timeout)

    async def exec(self, request: api.ExecRequest) -> str:
        """The streaming server's URL for this exec session."""
        return (await self._call("Exec", request)).url

    async def attach(self, request: api.AttachRequest) -> str:
        return (await self._call("Attach", request)).url

    async def port_forward(self, sandbox_id: str, ports: list[int]) -> str:
        return (await self._call("PortForward", api.PortForwardRequest(pod_sandbox_id=sandbox_id, port=ports))).url

    # stats

    async def container_stats(self, container_id: str) -> api.ContainerStats:
        return (await self._call("ContainerStats", api.ContainerStatsRequest(container_id=container_id))).stats

    async def list_container_stats(self, filter: api.ContainerStatsFilter | None = None) -> list[api.ContainerStats]:
        return list((await self._call("ListContainerStats", api.ListContainerStatsRequest(filter=filter))).stats)

    async def list_pod_sandbox_stats(self, filter: api.PodSandboxStatsFilter | None = None
                                     ) -> list[api.PodSandboxStats]:
        return list((await self._call("ListPodSandboxStats", api.ListPodSandboxStatsRequest(filter=filter))).stats)

    # images

    async def pull_image(self, image: str, auth: api.AuthConfig | None = None,
                         sandbox_config: api.PodSandboxConfig | None = None) -> str:
        """Answers the image's reference as the runtime names it (containerd: its id, sha256:...)."""
        request = api.PullImageRequest(image=api.ImageSpec(image=image), auth=auth, sandbox_config=sandbox_config)
        return (await self._call("PullImage", request)).image_ref

    async def list_images(self, image: str = "") -> list[api.Image]:
        request = api.ListImagesRequest(filter=api.ImageFilter(image=api.ImageSpec(image=image)) if image else None)
        return list((await self._call("ListImages", request)).images)

    async def image_status(self, image: str) -> api.Image | None:
        """The image, or None if the runtime does not have it."""
        response = await self._call("ImageStatus", api.ImageStatusRequest(image=api.ImageSpec(image=image)))
        return response.image if response.HasField("image") else None

    async def remove_image(self, image: str) -> None:
        await self._call("RemoveImage", api.RemoveImageRequest(image=api.ImageSpec(image=image)))
