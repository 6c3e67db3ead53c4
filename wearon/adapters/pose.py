"""MediaPipe Pose as the body detector: a small pool of worker threads, one Pose object each.

A Pose object keeps graph state and is not thread-safe, and inference is CPU-bound, so it never
runs on the event loop: each worker thread builds its own Pose when it starts and is the only
one to use it. The pool is sized to the cores; requests beyond it wait their turn in the executor.
Workers run at a lower CPU priority than the event loop, so that when inference fills every
core, /health and request parsing are still served first.

Every photo is read at one working size, its long side MAX_SIDE: a larger photo is shrunk, a
smaller one upscaled (the detector's belief in each landmark drops on a small image even where the
body is plainly in view, and measuring an upscaled copy gives it back; the measurement still
counts detail in the photo's own pixels, see `wearon.domain.sizing.resolution`).

Each photo is read twice, as is and mirrored (see `wearon.domain.sizing.views`), the two views
in parallel on two workers. The mirrored view stays in its own (mirrored) coordinates: the
measurement never depends on which side of the image is which.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from mediapipe.python.solutions import pose as mp_pose
from PIL import Image

from wearon.domain.sizing import BodyScan, Joint, Landmark, View, WorldPoint
from wearon.domain.sizing.resolution import require_photo_height
from wearon.errors import BodyNotDetected

#: 1 selects pose_landmark_full.tflite, the model bundled in the mediapipe wheel
#: (0 and 2 would be downloaded on first use, which we never allow).
MODEL_COMPLEXITY = 1
#: The models see the person through a 256 px crop, and the person mask is predicted at that
#: size and warped back: a larger input adds no detail, only memory and time.
MAX_SIDE = 640
#: A photo's long side is never stretched more than this (a photo lower than
#: `resolution.MIN_STATURE_PX` is refused before it is read, so 640/160 = 4 is the most needed).
MAX_UPSCALE = 4.0
#: Linux "nice" for inference threads (0 is the default, 19 the lowest priority). The model's
#: own threads are started from a worker and inherit it.
INFERENCE_NICENESS = 10
#: Seconds every worker has to load its model at start-up.
LOAD_TIMEOUT_S = 120.0
NO_PERSON = "No person found in the photo: take a full-body photo of one person"
RGB = npt.NDArray[np.uint8]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class PosePool:
    max_side = MAX_SIDE

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or default_workers()
        self._local = threading.local()
        self._poses: list[Any] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def loaded(self) -> bool:
        return self._executor is not None

    def load(self) -> None:
        """Start every worker, each loading and running its model once, before any request."""
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(
            self._workers, thread_name_prefix="pose", initializer=self._start_worker
        )
        # Tasks that wait for each other can only finish once every worker thread exists.
        all_started = threading.Barrier(self._workers, timeout=LOAD_TIMEOUT_S)
        for started in [executor.submit(all_started.wait) for _ in range(self._workers)]:
            started.result()
        self._executor = executor

    def close(self) -> None:
        if self._executor is None:
            return
        self._executor.shutdown(wait=True)
        self._executor = None
        with self._lock:
            for pose in self._poses:
                pose.close()
            self._poses.clear()

    async def detect_views(self, image: Image.Image) -> list[View]:
        """The photo and its mirror image, each a BodyScan or the reason it shows no body.

        Raises BodyNotDetected without reading a photo too low to hold a measurable person.
        """
        require_photo_height(*image.size)
        rgb = await self._run(to_rgb, image)
        scale = rgb.shape[1] / image.width
        mirrored = np.ascontiguousarray(rgb[:, ::-1])
        views = (self._run(self._view, rgb, scale), self._run(self._view, mirrored, scale))
        return list(await asyncio.gather(*views))

    def _start_worker(self) -> None:
        _lower_priority()
        pose = _new_pose()
        pose.process(np.zeros((256, 256, 3), dtype=np.uint8))
        self._local.pose = pose
        with self._lock:
            self._poses.append(pose)

    def _view(self, rgb: RGB, pixel_scale: float) -> View:
        try:
            return self._detect(rgb, pixel_scale)
        except BodyNotDetected as refusal:
            return refusal

    def _detect(self, rgb: RGB, pixel_scale: float) -> BodyScan:
        """One image to a BodyScan; BodyNotDetected when no person is found. Worker threads only."""
        result = self._local.pose.process(rgb)
        if result.pose_landmarks is None or result.segmentation_mask is None:
            raise BodyNotDetected("no_person", NO_PERSON)
        return to_scan(result, width=rgb.shape[1], height=rgb.shape[0], pixel_scale=pixel_scale)

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise RuntimeError("the pose pool is not loaded")
        context = contextvars.copy_context()  # keeps the request id on any log line
        return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, fn, *args)


def _lower_priority() -> None:
    # On Linux, PRIO_PROCESS with a thread id sets that thread alone.
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INFERENCE_NICENESS)


def to_rgb(image: Image.Image) -> RGB:
    """The photo at the working size: long side MAX_SIDE (or stretched by MAX_UPSCALE at most)."""
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    elif max(image.size) < MAX_SIDE:
        factor = min(MAX_SIDE / max(image.size), MAX_UPSCALE)
        size = (round(image.width * factor), round(image.height * factor))
        image = image.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def to_scan(result: Any, *, width: int, height: int, pixel_scale: float = 1.0) -> BodyScan:
    points, world = result.pose_landmarks.landmark, result.pose_world_landmarks
    return BodyScan(
        landmarks={joint: _landmark(points[joint], width, height) for joint in Joint},
        mask=np.asarray(result.segmentation_mask),
        world=None if world is None else {joint: _world(world.landmark[joint]) for joint in Joint},
        pixel_scale=pixel_scale,
    )


def _landmark(point: Any, width: int, height: int) -> Landmark:
    # MediaPipe normalises x and y by the image's sides.
    return Landmark(point.x * width, point.y * height, point.visibility)


def _world(point: Any) -> WorldPoint:
    return WorldPoint(point.x, point.y, point.z)


def _new_pose() -> Any:
    return mp_pose.Pose(
        static_image_mode=True,
        model_complexity=MODEL_COMPLEXITY,
        enable_segmentation=True,
        min_detection_confidence=0.5,
    )
