"""ChairNav: an egocentric camera robot must reach a chair in a room (PyBullet, Gymnasium)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from goggles_gym.envs.effects import CameraPipeline
from goggles_gym.envs.looks import Look, LookSpec, RandomizedLooks, get_look, look_name
from goggles_gym.envs.scene import CLASSES, Pose2D, Scene, SceneConfig

FORWARD, TURN_LEFT, TURN_RIGHT = 0, 1, 2
ACTION_NAMES = ("forward", "turn_left", "turn_right")


def check_image_size(image_size: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise ``image_size`` to (height, width), both positive multiples of 4."""
    pair = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else image_size
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise ValueError(f"image_size must be an int or (height, width) of multiples of 4, >= 8; got {image_size!r}")
    h, w = pair
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 8 and v % 4 == 0 for v in (h, w)):
        raise ValueError(f"image_size must be an int or (height, width) of multiples of 4, >= 8; got {image_size!r}")
    return int(h), int(w)


class ChairNav(gym.Env):
    """Visual navigation to a chair, seen through an egocentric RGB camera.

    The room (square, walls, floor) holds one chair and ``n_obstacles`` obstacles (boxes and
    tables); chair, obstacles and the start pose are drawn from the seed at every reset. The robot
    is a cylinder carrying a camera at ``camera_height``; it moves on the floor and PyBullet checks
    its collisions. The look (``sim``, ``real``, ``randomized`` or a YAML file, see
    :mod:`goggles_gym.envs.looks`) decides appearance only: the same seed gives the same room,
    start and trajectory in every look.

    **Actions** ``Discrete(3)``: 0 forward by ``forward_step`` metres, 1 turn left and 2 turn right
    by ``turn_degrees``. A forward move that would collide is not made (the robot stays) and counts
    as a collision.

    **Observation** ``Box(0, 255, (H, W, 3), uint8)``: the RGB camera frame, ``image_size``
    (default 64 x 64).

    **Reward** per step: ``progress_reward * (previous distance - distance)`` to the chair, minus
    ``step_penalty``, minus ``collision_penalty`` on a collision, plus ``success_reward`` on success.

    **Termination** on success: within ``reach_distance`` metres of the chair (robot centre to chair
    centre) while facing it (bearing within ``facing_degrees``). **Truncation** after ``max_steps``.

    **info**: ``labels`` (uint8 H x W class map, classes in :data:`CLASSES`: 0 background,
    1 floor, 2 wall, 3 chair, 4 obstacle), ``distance`` (m), ``bearing`` (rad), ``is_success``,
    ``collision`` (this step), ``collisions`` (this episode), ``initial_distance`` (m).

    >>> env = ChairNav(image_size=32)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, info["labels"].shape
    ((32, 32, 3), dtype('uint8'), (32, 32))
    >>> env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        look: LookSpec = "sim",
        image_size: int | tuple[int, int] = 64,
        render_mode: str | None = None,
        render_size: int = 256,
        max_steps: int = 100,
        forward_step: float = 0.25,
        turn_degrees: float = 20.0,
        reach_distance: float = 0.9,
        facing_degrees: float = 30.0,
        room_size: float = 5.0,
        n_obstacles: int = 2,
        fov_degrees: float = 90.0,
        camera_height: float = 0.5,
        progress_reward: float = 1.0,
        success_reward: float = 10.0,
        collision_penalty: float = 0.1,
        step_penalty: float = 0.01,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.look_spec = look_name(look)
        self._look_source = get_look(look)
        self.height, self.width = check_image_size(image_size)
        self.render_mode = render_mode
        self.render_size = int(render_size)
        self.max_steps = int(max_steps)
        self.forward_step = float(forward_step)
        self.turn = math.radians(turn_degrees)
        self.reach_distance = float(reach_distance)
        self.facing = math.radians(facing_degrees)
        self.rewards = dict(progress=progress_reward, success=success_reward, collision=collision_penalty,
                            step=step_penalty)
        first = self._look_source if isinstance(self._look_source, Look) else Look()
        self.scene = Scene(SceneConfig(room_size=room_size, n_obstacles=n_obstacles, fov_deg=fov_degrees,
                                       camera_height=camera_height), first.chair_mesh, first.chair_mesh_scale)
        self.look: Look = first
        self.scene.apply_look(first)
        self.observation_space = spaces.Box(0, 255, (self.height, self.width, 3), np.uint8)
        self.action_space = spaces.Discrete(3)
        self._appearance_rng = np.random.default_rng()
        self._render_rng = np.random.default_rng()
        self._set_camera(first)
        self.layout = None
        self.pose: Pose2D | None = None

    # --- helpers -----------------------------------------------------------------------------
    def _chair_geometry(self) -> tuple[float, float]:
        chair = self.layout.chair
        dx, dy = chair.x - self.pose.x, chair.y - self.pose.y
        bearing = (math.atan2(dy, dx) - self.pose.yaw + math.pi) % (2 * math.pi) - math.pi
        return math.hypot(dx, dy), bearing

    def _pose_option(self, options: dict[str, Any] | None) -> Pose2D | None:
        """``options["pose"]`` as a :class:`Pose2D` inside the room and clear of every object, or None."""
        unknown = sorted(set(options or {}) - {"pose"})
        if unknown:
            raise ValueError(f"reset options: unknown key(s) {', '.join(map(repr, unknown))}; ChairNav takes 'pose'")
        if not options or options.get("pose") is None:
            return None
        try:
            x, y, yaw = (float(v) for v in options["pose"])
        except (TypeError, ValueError):
            raise ValueError(f"reset options: pose must be (x, y, yaw) numbers, got {options['pose']!r}") from None
        half = self.scene.config.room_size / 2
        if not all(map(math.isfinite, (x, y, yaw))) or max(abs(x), abs(y)) >= half:
            raise ValueError(f"reset options: pose ({x}, {y}, {yaw}) is outside the room (|x|, |y| < {half} m)")
        if self.scene.collides(x, y):
            raise ValueError(f"reset options: pose ({x:.2f}, {y:.2f}) is inside a wall, the chair or an obstacle")
        return Pose2D(x, y, (yaw + math.pi) % (2 * math.pi) - math.pi)

    def _set_camera(self, look: Look) -> None:
        self._camera = CameraPipeline(look.camera, (self.height, self.width), self._appearance_rng)
        self._render_camera = None

    def _observe(self) -> tuple[np.ndarray, np.ndarray]:
        rgb, labels = self.scene.render(self.pose, self.width, self.height, self.look)
        return self._camera(rgb, self._appearance_rng), labels

    # --- Gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Place chair, obstacles and robot from the seed; draw a new look if randomized.

        ``options={"pose": (x, y, yaw)}`` puts the robot there (metres, radians) instead of the
        layout's start; the room, the chair, the obstacles and the look are still the seed's. A pose
        outside the room or inside an object raises ``ValueError``.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._appearance_rng = np.random.default_rng([seed, 1])
            self._render_rng = np.random.default_rng([seed, 2])
        if isinstance(self._look_source, RandomizedLooks):
            self.look = self._look_source.sample(self._appearance_rng)
            self.scene.apply_look(self.look)
            self._set_camera(self.look)
        elif seed is not None:
            self._set_camera(self.look)  # the noise bank is drawn from the seed too
        self.layout = self.scene.sample_layout(self.np_random)
        self.scene.apply_layout(self.layout)
        self.pose = self._pose_option(options) or self.layout.start
        self.steps = 0
        self.collisions = 0
        distance, bearing = self._chair_geometry()
        self._distance = distance
        self.initial_distance = distance
        obs, labels = self._observe()
        return obs, self._info(labels, distance, bearing, False, False)

    def step(self, action):
        """Move or turn, then render; see the class docstring for reward and termination."""
        if self.pose is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (forward), 1 (turn left) or 2 (turn right), got {action!r}")
        action = int(action)
        pose = self.pose
        collision = False
        if action == FORWARD:
            x = pose.x + self.forward_step * math.cos(pose.yaw)
            y = pose.y + self.forward_step * math.sin(pose.yaw)
            collision = self.scene.collides(x, y)
            if not collision:
                self.pose = Pose2D(x, y, pose.yaw)
        else:
            turn = self.turn if action == TURN_LEFT else -self.turn
            self.pose = Pose2D(pose.x, pose.y, (pose.yaw + turn + math.pi) % (2 * math.pi) - math.pi)
        self.steps += 1
        self.collisions += int(collision)
        distance, bearing = self._chair_geometry()
        success = distance <= self.reach_distance and abs(bearing) <= self.facing
        r = self.rewards
        reward = r["progress"] * (self._distance - distance) - r["step"] - r["collision"] * collision
        reward += r["success"] * success
        self._distance = distance
        obs, labels = self._observe()
        truncated = not success and self.steps >= self.max_steps
        return obs, float(reward), success, truncated, self._info(labels, distance, bearing, success, collision)

    def _info(self, labels, distance, bearing, success, collision) -> dict[str, Any]:
        return {"labels": labels, "distance": distance, "bearing": bearing, "is_success": bool(success),
                "collision": bool(collision), "collisions": self.collisions,
                "initial_distance": self.initial_distance}

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the camera view at ``render_size`` (a larger frame for videos)."""
        if self.render_mode != "rgb_array" or self.pose is None:
            return None
        h = self.render_size
        w = round(h * self.width / self.height)
        rgb, _ = self.scene.render(self.pose, w, h, self.look)
        if self._render_camera is None or self._render_camera.size != (h, w):
            self._render_camera = CameraPipeline(self.look.camera, (h, w), self._render_rng)
        return self._render_camera(rgb, self._render_rng)

    def close(self) -> None:
        """Release the PyBullet client."""
        if getattr(self, "scene", None) is not None:
            self.scene.close()

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the label classes, indexed by label value."""
        return CLASSES
