"""Making sure a container's image is on the node before it is created, as upstream's image manager
(EnsureImageExists) does, with its events and errors.

The container's imagePullPolicy decides: Always pulls every time, IfNotPresent only if the runtime does not
have the image, Never never (ErrImageNeverPull if the image is missing). A pull is made with the
credentials of the pod's imagePullSecrets for the image's registry (image_credentials). A failed pull is
ErrImagePull, and puts the pod's image in back-off (doubling up to a cap, as container restarts): while
that lasts the image is not pulled again, the container waits with ImagePullBackOff.
"""

from __future__ import annotations

import time

from timoneiro.api.defaults.image import pull_policy
from timoneiro.client.events import NORMAL, WARNING, EventRecorder
from timoneiro.kubelet import events
from timoneiro.kubelet.backoff import Backoff, go_duration
from timoneiro.kubelet.image_credentials import KeyringError, PullSecrets, credentials
from timoneiro.kubelet.runtime.base import AuthConfig, Image, Runtime, RuntimeFailure
from timoneiro.kubelet.runtime.image_names import repository

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"


class ImageManager:
    def __init__(self, runtime: Runtime, recorder: EventRecorder, backoff: Backoff,
                 pull_secrets: PullSecrets | None = None) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.backoff = backoff  # keyed by pod uid and image, as upstream's
        self.pull_secrets = pull_secrets  # None: pulls without credentials

    async def ensure(self, pod: dict, spec: dict) -> Image | None:
        """The image as the runtime has it once it is on the node (None if the runtime, having pulled it,
        cannot tell of it); raises RuntimeFailure with the container's waiting reason (ErrImagePull,
        ImagePullBackOff, ErrImageNeverPull) and message if it is not."""
        image = spec.get("image", "")
        ref = events.container_ref(pod, spec["name"])
        policy = spec.get("imagePullPolicy") or pull_policy(image)
        present = await self.runtime.image_status(image)
        if policy == "Never" or (policy == "IfNotPresent" and present is not None):
            if present is not None:
                self.recorder.record(ref, NORMAL, events.PULLED, f'Container image "{image}" already present on machine')
                return present
            message = f'Container image "{image}" is not present with pull policy of Never'
            self.recorder.record(ref, WARNING, events.NEVER_PULL, message)
            raise RuntimeFailure(events.NEVER_PULL, message)
        key = f"{pod['metadata']['uid']}_{image}"
        if self.backoff.remaining_since_update(key) > 0:
            message = f'Back-off pulling image "{image}"'
            self.recorder.record(ref, NORMAL, events.BACK_OFF, message)
            raise RuntimeFailure(IMAGE_PULL_BACK_OFF, message)
        self.recorder.record(ref, NORMAL, events.PULLING, f'Pulling image "{image}"')
        began = time.monotonic()
        try:
            await self.runtime.pull_image(image, await self._credentials(pod, image))
        except RuntimeFailure as e:
            self.recorder.record(ref, WARNING, events.FAILED, f'Failed to pull image "{image}": {e.message}')
            self.backoff.next(key, time.time())
            raise RuntimeFailure(ERR_IMAGE_PULL, e.message) from e
        took = go_duration(int((time.monotonic() - began) * 1000) / 1000)  # truncated to milliseconds
        pulled = await self.runtime.image_status(image)
        size = pulled.size if pulled is not None else 0
        self.recorder.record(ref, NORMAL, events.PULLED, f'Successfully pulled image "{image}" in {took} '
                             f"({took} including waiting). Image size: {size} bytes.")
        return pulled

    async def _credentials(self, pod: dict, image: str) -> list[AuthConfig]:
        """The pod's pull secrets' credentials for the image's registry; a pull secret that is not a docker
        config fails the pull."""
        if self.pull_secrets is None:
            return []
        try:
            return credentials(await self.pull_secrets.of(pod), repository(image))
        except KeyringError as e:
            raise RuntimeFailure(ERR_IMAGE_PULL, str(e)) from e
