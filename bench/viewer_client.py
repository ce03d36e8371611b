"""A minimal viser client for measuring the viewer without a browser: it connects to a viewer
over its websocket, reports one camera (as a browser does when it opens the page), and reads
and drops everything the server sends (the frames). A browser's own CPU work (WebGL
compositing) is not part of it, which is the point: on a user's setup the browser runs on
their machine, the viewer's rendering on the training one."""
from __future__ import annotations

import threading

import msgspec
import viser
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.viewer.camera import camera_pose, camera_to_world_rotation


def camera_message(camera, width: int, height: int) -> bytes:
    """viser's ViewerCameraMessage for a 3DGS camera's pose seen on a `width` x `height` canvas."""
    wxyz, position = camera_pose(camera)
    rotation = camera_to_world_rotation(wxyz)
    return msgspec.msgpack.encode({
        "type": "ViewerCameraMessage", "wxyz": wxyz.tolist(), "position": position.tolist(),
        "fov": float(camera.FoVy), "near": 0.01, "far": 1000.0, "image_height": int(height),
        "image_width": int(width), "look_at": (position + rotation[:, 2]).tolist(),
        "up_direction": (-rotation[:, 1]).tolist()})


class HeadlessViewerClient:
    """Connected from construction until `close()`; `messages` counts what arrived."""

    def __init__(self, url: str, camera, width: int = 512, height: int = 384):
        self._socket = connect(url.replace("http://", "ws://"), subprotocols=[f"viser-v{viser.__version__}"],
                               max_size=None, compression=None)
        self.messages = 0
        self._socket.send(camera_message(camera, width, height))
        self._reader = threading.Thread(target=self._drain, name="headless-viewer-client", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        try:
            while True:
                self._socket.recv()
                self.messages += 1
        except (ConnectionClosed, OSError):
            pass

    def close(self) -> None:
        self._socket.close()
        self._reader.join(timeout=5.0)

