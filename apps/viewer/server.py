"""The viewer's server: a viser server (its client is bundled in the wheel, so nothing is
fetched at run time) with the GUI, the training and test cameras as frustums, and a render
thread that draws every connected browser's camera with our rasterizer on the model's device.

A frame is rendered when a browser's camera moves, a setting changes, or the model is
refreshed (training: every `--viewer_refresh` iterations); a click picks the object id under
the pointer in the last frame's id map (apps.viewer.picking).
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import viser

from apps.viewer.camera import camera_pose, render_size, scene_up_direction, viewer_camera
from apps.viewer.display_model import DisplayModel, Edit
from apps.viewer.modes import MODE_RGB, MODES, compose, ground_truth_strip
from apps.viewer.picking import NamedSelections, PickedObject, object_stats, pick_id
from arguments import ModelParams, PipelineParams, check_port_number
from gaussian_renderer.device import resolve_device
from scene import Scene
from scene.gaussian_model import GaussianModel
from scene.model_folder import background_color, load_model
from utils.visualization import to_uint8_rgb

THUMBNAIL_HEIGHT = 48          # frustum pictures, pixels
FRUSTUM_LINE_PX = 1.5          # frustum lines, screen pixels (world-unit lines turn into bars up close)
FRUSTUM_SIZE = 0.04            # frustum depth over the cameras' mean distance to their centroid
TRAIN_COLOUR = (90, 90, 90)
TEST_COLOUR = (230, 120, 20)
NO_SELECTION = "(none)"


class ViewerPortBusy(OSError):
    """The viewer's port is taken; the message says which and what to do."""


@dataclass
class ViewerOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    render_height: int = 384       # pixels; the width follows the browser's aspect
    prompts_path: str = ""         # where named selections are saved (default <model>/prompts.json)
    export_dir: str = ""           # exported object PLYs (default <model>/viewer_export)
    start_view: str = ""           # 'test/<name>', 'train/<name>' or an image name; default the first training view
    jpeg_quality: int = 90


@dataclass(frozen=True)
class View:
    """A training or test view the viewer can jump to."""
    split: str
    camera: object   # scene.cameras.Camera

    @property
    def label(self) -> str:
        return f"{self.split}/{self.camera.image_name}"


def scene_views(scene: Scene) -> list[View]:
    """The scene's test views, then its training views."""
    return ([View("test", c) for c in scene.getTestCameras()] +
            [View("train", c) for c in scene.getTrainCameras()])


def find_view(views: list[View], name: str) -> Optional[View]:
    """The view labelled `name` ('split/image' or just the image name); for '' the first
    training view (the first view when there is no training view)."""
    if not name:
        return next((v for v in views if v.split == "train"), views[0] if views else None)
    for view in views:
        if name in (view.label, view.camera.image_name):
            return view
    raise ValueError(f"no view named {name!r}; views are {', '.join(v.label for v in views[:6])}"
                     f"{' ...' if len(views) > 6 else ''}")


def stop_on_sigterm() -> None:
    """Make SIGTERM (`kill`, a service manager's stop) interrupt the main thread as Ctrl+C does.
    Otherwise the handler pycolmap's logging library installs takes it and aborts the process
    with a native stack trace. Call it from the main thread, before announcing the viewer."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def check_port_free(host: str, port: int) -> None:
    """Raise ViewerPortBusy when something already listens on `host:port` (ValueError for a
    number that is no port)."""
    check_port_number(port, "viewer port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ViewerPortBusy(f"viewer port {port} on {host} is busy ({err.strerror}); another viewer "
                                 f"may be running: pick a free one with --port (train.py: --viewer_port)") from None


def thumbnail(image: torch.Tensor, height: int = THUMBNAIL_HEIGHT) -> np.ndarray:
    """(3, H, W) float image -> (h, w, 3) uint8 picture at most `height` px high."""
    scale = min(1.0, height / image.shape[1])
    small = torch.nn.functional.interpolate(image[None].float().cpu(), scale_factor=scale, mode="area")[0]
    return to_uint8_rgb(small)


def frustum_scale(views: list[View]) -> float:
    """A frustum size that suits the spread of the camera centres (FRUSTUM_SIZE of their mean
    distance to their centroid): small enough that a neighbouring view's frustum does not
    cover the picture seen from a camera."""
    centres = np.array([camera_pose(v.camera)[1] for v in views])
    if len(centres) < 2:
        return 0.1
    return max(FRUSTUM_SIZE * float(np.linalg.norm(centres - centres.mean(axis=0), axis=1).mean()), 1e-3)


class ViewerServer:
    """The viewer of one model (see the module docstring). `refresh()` redraws every browser."""

    def __init__(self, display: DisplayModel, views: list[View], options: ViewerOptions, title: str):
        self.display, self.views, self.options, self.title = display, views, options, title
        self.selections = NamedSelections(options.prompts_path, display.num_classes)
        self.picked: Optional[PickedObject] = None
        self.frame_seconds = 0.0            # the last frame's render + composition time
        self.frames_rendered = 0
        self._frames: dict[int, np.ndarray] = {}   # client id -> id map of its last frame
        self._dirty: set[int] = set()
        self._dirty_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._start_view = find_view(views, options.start_view)

        check_port_free(options.host, options.port)
        self.server = viser.ViserServer(host=options.host, port=options.port, label=title, verbose=False)
        if self.server.get_port() != options.port:   # taken between the check and the bind
            self.server.stop()
            raise ViewerPortBusy(f"viewer port {options.port} on {options.host} is busy; pick a free "
                                 f"one with --port (train.py: --viewer_port)")
        self.server.gui.configure_theme(show_share_button=False)   # sharing needs the network
        if views:
            self.server.scene.set_up_direction(scene_up_direction([v.camera for v in views]))
        self._build_gui()
        self._add_frustums()
        self.server.on_client_connect(self._on_connect)
        self.server.on_client_disconnect(self._on_disconnect)
        self.server.scene.on_click()(self._on_click)
        self._thread = threading.Thread(target=self._render_loop, name="viewer-render", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.server.get_port()}"

    # ----------------------------------------------------------------------------- GUI
    def _build_gui(self) -> None:
        gui = self.server.gui
        self.status = gui.add_markdown(self._status_text())
        with gui.add_folder("Display"):
            self.mode = gui.add_dropdown("Mode", MODES, initial_value=MODE_RGB)
            self.height = gui.add_slider("Resolution (px)", min=64, max=2160, step=16,
                                         initial_value=int(self.options.render_height))
            self.opacity = gui.add_slider("Id opacity", min=0.0, max=1.0, step=0.05, initial_value=0.5)
        for handle in (self.mode, self.height, self.opacity):
            handle.on_update(lambda _: self.refresh())
        with gui.add_folder("Pick (click the picture)"):
            self.picked_text = gui.add_markdown("Nothing picked: click an object in the picture.")
            self.name = gui.add_text("Name", initial_value="")
            gui.add_button("Name picked object").on_click(lambda _: self._name_picked())
            self.selections_text = gui.add_markdown(self.selections.describe())
            self.forget_choice = gui.add_dropdown("Selection", self._selection_names())
            gui.add_button("Forget selection").on_click(lambda _: self._forget_selection())
            gui.add_markdown(f"Saved to `{self.selections.path}`")
        with gui.add_folder("Edit picked object"):
            self.colour = gui.add_rgb("Colour", initial_value=(255, 0, 255))
            gui.add_button("Recolour").on_click(lambda _: self._edit("recolour"))
            gui.add_button("Remove").on_click(lambda _: self._edit("remove"))
            gui.add_button("Undo all edits").on_click(lambda _: self._reset_edits())
            gui.add_button("Export as PLY").on_click(lambda _: self._export_picked())
            self.edit_text = gui.add_markdown("Edits change the view only, never the model folder.")
        with gui.add_folder("Views"):
            labels = [v.label for v in self.views] or [NO_SELECTION]
            self.view_choice = gui.add_dropdown(
                "Jump to view", labels,
                initial_value=self._start_view.label if self._start_view else labels[0])
            self.view_choice.on_update(lambda event: self._jump_to(self.view_choice.value, event.client))
            self.show_cameras = gui.add_checkbox("Show cameras", initial_value=True)
            self.show_cameras.on_update(lambda _: self._set_frustums_visible(self.show_cameras.value))
            self.strip_note = gui.add_markdown("render | ground truth | mask | predicted ids")
            self.strip = gui.add_image(np.full((8, 32, 3), 255, np.uint8), format="png")

    def _status_text(self) -> str:
        iteration = "" if self.display.iteration is None else f" · iteration {self.display.iteration}"
        return (f"**{self.title}**{iteration} · {self.display.num_points} Gaussians · "
                f"{self.display.device}")

    def _selection_names(self) -> list[str]:
        return sorted(self.selections.prompts) or [NO_SELECTION]

    def _show_selections(self) -> None:
        self.selections_text.content = self.selections.describe()
        self.forget_choice.options = self._selection_names()

    def _describe_picked(self) -> None:
        if self.picked is not None:
            self.picked_text.content = self.picked.describe(self.selections.names_of(self.picked.id))

    def _name_picked(self) -> None:
        if self.picked is None:
            self.picked_text.content = "Pick an object first: click it in the picture."
            return
        try:
            self.selections.add(self.name.value, self.picked.id)
        except (ValueError, OSError) as err:
            self.picked_text.content = f"Not named: {err}"
            return
        self._show_selections()
        self._describe_picked()

    def _forget_selection(self) -> None:
        if self.forget_choice.value in self.selections.prompts:
            self.selections.forget(self.forget_choice.value)
            self._show_selections()
            self._describe_picked()

    def _edit(self, op: str) -> None:
        if self.picked is None:
            self.edit_text.content = "Pick an object first."
            return
        rgb = tuple(c / 255.0 for c in self.colour.value) if op == "recolour" else None
        try:
            touched = self.display.add_edit(Edit(op, self.picked.id, rgb))
        except ValueError as err:
            self.edit_text.content = f"Not applied: {err}"
            return
        self.edit_text.content = f"{op}: id {self.picked.id}, {touched} Gaussians (view only)"
        self.status.content = self._status_text()
        self.refresh()

    def _reset_edits(self) -> None:
        self.display.reset_edits()
        self.edit_text.content = "No edits."
        self.status.content = self._status_text()
        self.refresh()

    def _export_picked(self) -> None:
        if self.picked is None:
            self.edit_text.content = "Pick an object first."
            return
        try:
            path, count = self.display.export_object(self.picked.id, self.options.export_dir)
        except (ValueError, OSError) as err:
            self.edit_text.content = f"Not exported: {err}"
            return
        self.edit_text.content = f"Exported id {self.picked.id} ({count} Gaussians) to `{path}`"

    # ----------------------------------------------------------------------------- cameras
    def _add_frustums(self) -> None:
        scale = frustum_scale(self.views)
        self._frustums = {}
        self._hidden_frustum: Optional[str] = None   # the view jumped to: its picture would fill the screen
        for index, view in enumerate(self.views):
            camera = view.camera
            wxyz, position = camera_pose(camera)
            frustum = self.server.scene.add_camera_frustum(
                f"/cameras/{view.split}/{index:05d}", fov=camera.FoVy,
                aspect=camera.image_width / camera.image_height, scale=scale,
                thickness=FRUSTUM_LINE_PX, thickness_units="screen",
                color=TEST_COLOUR if view.split == "test" else TRAIN_COLOUR,
                image=thumbnail(camera.original_image), wxyz=wxyz, position=position)
            frustum.on_click(lambda event, label=view.label: self._jump_to(label, event.client))
            self._frustums[view.label] = frustum

    def _set_frustums_visible(self, visible: bool) -> None:
        for label, frustum in self._frustums.items():
            frustum.visible = visible and label != self._hidden_frustum

    def _jump_to(self, label: str, client: Optional[viser.ClientHandle]) -> None:
        """Move `client`'s camera (every client's for None) to view `label` and show its
        ground-truth strip."""
        view = next((v for v in self.views if v.label == label), None)
        if view is None:
            return
        clients = [client] if client is not None else list(self.server.get_clients().values())
        self._hidden_frustum = label
        self._set_frustums_visible(self.show_cameras.value)
        wxyz, position = camera_pose(view.camera)
        for target in clients:
            with target.atomic():
                target.camera.fov = view.camera.FoVy
                target.camera.wxyz = wxyz
                target.camera.position = position
        self._show_strip(view)

    def _show_strip(self, view: View) -> None:
        camera = view.camera
        layers = self.display.render_layers(camera, MODE_RGB)
        gt_ids = None if camera.objects is None else camera.objects.cpu().numpy()
        self.strip.image = ground_truth_strip(layers.rgb, to_uint8_rgb(camera.original_image), gt_ids, layers.ids)
        self.strip_note.content = (f"`{view.label}`: render | ground truth | "
                                   f"{'mask | ' if gt_ids is not None else ''}predicted ids")

    # ----------------------------------------------------------------------------- events
    def _on_connect(self, client: viser.ClientHandle) -> None:
        if self._start_view is not None:
            self._jump_to(self._start_view.label, client)
        client.camera.on_update(lambda camera: self._mark_dirty(camera.client.client_id))
        self._mark_dirty(client.client_id)

    def _on_disconnect(self, client: viser.ClientHandle) -> None:
        self._frames.pop(client.client_id, None)

    def _on_click(self, event) -> None:
        ids = self._frames.get(event.client_id)
        if ids is None:
            return
        object_id = pick_id(ids, event.screen_pos)
        self.picked = object_stats(ids, self.display.group(object_id), object_id)
        self._describe_picked()
        self.refresh()

    def _mark_dirty(self, client_id: int) -> None:
        with self._dirty_lock:
            self._dirty.add(client_id)
        self._wake.set()

    def refresh(self) -> None:
        """Redraw every connected browser (after a setting, an edit or a new model state)."""
        with self._dirty_lock:
            self._dirty.update(self.server.get_clients())
        self._wake.set()

    def show_training_state(self, trainer, iteration: int) -> None:
        """The trainer's iteration callback: show a copy of its Gaussians and classifier now."""
        self.display.set_source(trainer.gaussians, trainer.classifier, iteration)
        self.status.content = self._status_text()
        self.refresh()

    # ----------------------------------------------------------------------------- rendering
    def _render_loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(timeout=0.25):
                continue
            self._wake.clear()
            with self._dirty_lock:
                dirty, self._dirty = self._dirty, set()
            clients = self.server.get_clients()
            for client_id in dirty:
                if client_id in clients and not self._stop.is_set():
                    try:
                        self._render_client(clients[client_id])
                    except Exception:  # a frame that fails must not end the viewer
                        traceback.print_exc(file=sys.stderr)

    def _render_client(self, client: viser.ClientHandle) -> None:
        start = time.perf_counter()
        view = client.camera
        width, height = render_size(view.aspect, int(self.height.value))
        camera = viewer_camera(view.wxyz, view.position, view.fov, width, height, self.display.device)
        mode = self.mode.value
        picked = None if self.picked is None else self.picked.id
        layers = self.display.render_layers(camera, mode, picked)
        image = compose(mode, layers, self.display.pca, float(self.opacity.value), picked)
        client.scene.set_background_image(image, format="jpeg", jpeg_quality=self.options.jpeg_quality)
        self._frames[client.client_id] = layers.ids
        self.frame_seconds = time.perf_counter() - start
        self.frames_rendered += 1

    def serve_until_interrupted(self, announcement: str = "") -> None:
        """Print `announcement`, then block until Ctrl+C or SIGTERM (`stop_on_sigterm`) and close.
        The line is printed inside, so that a stop right after it still closes cleanly."""
        stop_on_sigterm()
        try:
            if announcement:
                print(announcement, flush=True)
            while not self._stop.is_set():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5.0)
        self.server.stop()


# ----------------------------------------------------------------------------- entry points

def open_model_viewer(dataset: ModelParams, pipe: PipelineParams, iteration: int,
                      options: ViewerOptions) -> ViewerServer:
    """The viewer of a trained model folder (view.py): its Gaussians and classifier at
    `iteration` (-1: the latest), its scene's views with their ground truth."""
    check_port_free(options.host, options.port)   # before minutes of loading, not after
    device = resolve_device(pipe.device)
    model = load_model(dataset.model_path, iteration, device)
    scene = Scene(dataset, GaussianModel(dataset.sh_degree, dataset.num_objects, device),
                  load_iteration=model.iteration)   # for the cameras and their ground truth
    display = DisplayModel(model.gaussians, model.classifier, pipe, background_color(dataset.white_background, device),
                           model.iteration)
    return ViewerServer(display, scene_views(scene), with_model_defaults(options, dataset.model_path),
                        title=os.path.basename(os.path.normpath(dataset.model_path)))


def open_training_viewer(trainer, options: ViewerOptions) -> ViewerServer:
    """The live viewer of a training run (train.py --viewer); refresh it with
    `show_training_state` from the trainer's iteration callback."""
    check_port_free(options.host, options.port)
    display = DisplayModel(trainer.gaussians, trainer.classifier, trainer.pipe, trainer.background,
                           trainer.first_iteration - 1)
    return ViewerServer(display, scene_views(trainer.scene),
                        with_model_defaults(options, trainer.dataset.model_path),
                        title=f"training {os.path.basename(os.path.normpath(trainer.dataset.model_path))}")


def with_model_defaults(options: ViewerOptions, model_path: str) -> ViewerOptions:
    """`options` with the prompts file and export folder defaulting into the model folder."""
    return ViewerOptions(**{**vars(options),
                            "prompts_path": options.prompts_path or os.path.join(model_path, "prompts.json"),
                            "export_dir": options.export_dir or os.path.join(model_path, "viewer_export")})
