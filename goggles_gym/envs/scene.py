"""The PyBullet room behind ChairNav: building it once, moving it per episode, rendering it.

Bodies are created once per scene; a reset only moves them (``resetBasePositionAndOrientation``)
and a new look only swaps colours and textures (``changeVisualShape``, textures loaded once per
file), so thousands of resets do not grow memory. The seed's RNG alone decides the layout.

A render is a pure function of the pose, the size, the look and the scene's layout and materials,
so :meth:`Scene.render` keeps the frames of the current layout and look (up to
:data:`FRAME_CACHE_BYTES`) and answers a pose it has drawn before (a blocked move, a turn undone)
without drawing it again: the same pixels and labels, bit for bit. Moving or re-colouring a body
through this class forgets them; change the PyBullet bodies behind its back and call
:meth:`Scene.forget_frames`.
"""

from __future__ import annotations

import math
import os
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from goggles_gym.envs.looks import Look, Material, check_mesh_file, check_texture_file, texture_path


def _import_pybullet() -> ModuleType:
    """``import pybullet`` without its "pybullet build time" banner on stderr (so an error of the
    command line stays one line); an import error is raised as usual."""
    if "pybullet" in sys.modules:
        return sys.modules["pybullet"]
    sys.stderr.flush()
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no file descriptor 2 to silence
        import pybullet

        return pybullet
    os.dup2(devnull, 2)
    try:
        import pybullet
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return pybullet


p = _import_pybullet()

#: Semantic classes of the label maps in ``info["labels"]`` (values of each pixel).
CLASSES: tuple[str, ...] = ("background", "floor", "wall", "chair", "obstacle")
BACKGROUND, FLOOR, WALL, CHAIR, OBSTACLE = range(len(CLASSES))

WALL_HEIGHT = 1.5
WALL_THICKNESS = 0.1
TILE = 1.0  # floor tiles and wall panels are this wide, so textures repeat instead of stretching
#: Bytes of rendered frames (RGB and labels) a scene keeps for poses seen again; see :meth:`Scene.render`.
FRAME_CACHE_BYTES = 16 << 20

# The procedural chair: (half extents, centre) of seat, back and four legs, in metres, back at +y.
_CHAIR_PARTS = (
    ((0.22, 0.22, 0.03), (0.0, 0.0, 0.45)),
    ((0.22, 0.03, 0.22), (0.0, 0.19, 0.70)),
    ((0.025, 0.025, 0.21), (0.18, 0.18, 0.21)),
    ((0.025, 0.025, 0.21), (-0.18, 0.18, 0.21)),
    ((0.025, 0.025, 0.21), (0.18, -0.18, 0.21)),
    ((0.025, 0.025, 0.21), (-0.18, -0.18, 0.21)),
)
CHAIR_HALF = (0.23, 0.23, 0.46)  # collision box of the chair, whatever mesh it is drawn with
# Obstacles: a box and a table, alternating over the obstacle slots.
_BOX_HALF = (0.25, 0.25, 0.25)
_TABLE_HALF = (0.45, 0.30, 0.36)
_TABLE_PARTS = (
    ((0.45, 0.30, 0.025), (0.0, 0.0, 0.695)),
    ((0.03, 0.03, 0.335), (0.40, 0.25, 0.335)),
    ((0.03, 0.03, 0.335), (-0.40, 0.25, 0.335)),
    ((0.03, 0.03, 0.335), (0.40, -0.25, 0.335)),
    ((0.03, 0.03, 0.335), (-0.40, -0.25, 0.335)),
)


@dataclass(frozen=True)
class Pose2D:
    """A position on the floor and a heading (radians, 0 = +x, counter-clockwise)."""

    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class Layout:
    """Where everything is in one episode: decided by the seed alone."""

    chair: Pose2D
    obstacles: tuple[Pose2D, ...]
    start: Pose2D


@dataclass(frozen=True)
class SceneConfig:
    """Geometry and camera: everything about the room that is not appearance."""

    room_size: float = 5.0
    n_obstacles: int = 2
    robot_radius: float = 0.2
    camera_height: float = 0.5
    camera_pitch_deg: float = -10.0
    fov_deg: float = 90.0
    min_start_distance: float = 1.5


def _quad(a: tuple[float, float], b: tuple[float, float], z0: float, z1: float, half: float) -> tuple[list, list]:
    """A textured rectangle: on the floor (z0 == z1) spanning corners a..b, or a wall from a to b.

    Vertices wind counter-clockwise seen from the room's inside; texture coordinates are in TILEs.
    """
    if z0 == z1:
        (x0, y0), (x1, y1) = a, b
        y1 = -y0
        verts = [[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]]
        uvs = [[0, 0], [(x1 - x0) / TILE, 0], [(x1 - x0) / TILE, (y1 - y0) / TILE], [0, (y1 - y0) / TILE]]
        return verts, uvs
    length = math.hypot(b[0] - a[0], b[1] - a[1]) / TILE
    verts = [[a[0], a[1], z0], [b[0], b[1], z0], [b[0], b[1], z1], [a[0], a[1], z1]]
    uvs = [[0, 0], [length, 0], [length, (z1 - z0) / TILE], [0, (z1 - z0) / TILE]]
    return verts, uvs


def _quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def _footprint_radius(half: tuple[float, float, float]) -> float:
    return math.hypot(half[0], half[1])


def _disconnect(client: int) -> None:
    """Disconnect a PyBullet client, ignoring one already gone."""
    try:
        p.disconnect(physicsClientId=client)
    except p.error:
        pass


class Scene:
    """One PyBullet client holding the room; see the module docstring.

    :meth:`close` disconnects the client; a scene dropped without it disconnects when collected
    (each client holds tens of MB).
    """

    def __init__(self, config: SceneConfig = SceneConfig(), chair_mesh: str | None = None,
                 chair_mesh_scale: float = 1.0) -> None:
        self.config = config
        self.client = p.connect(p.DIRECT)
        self._finalizer = weakref.finalize(self, _disconnect, self.client)
        self._textures: dict[str, int] = {}
        self._applied: dict[int, tuple] = {}
        self._projections: dict[tuple[int, int], tuple] = {}
        #: Bytes of frames :meth:`render` may keep (0: draw every frame).
        self.frame_cache_bytes = FRAME_CACHE_BYTES
        self._frames: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._frames_bytes = 0
        self._frames_look: Look | None = None
        self._look_args: dict = {}
        self._background: dict[tuple, np.ndarray] = {}
        c = self.client
        half = config.room_size / 2

        # Floor and walls are single meshes whose texture coordinates repeat every TILE metres.
        self.floor = p.createMultiBody(0, -1, self._mesh([_quad((-half, -half), (half, -half), 0.0, 0.0, 0.0)]),
                                       physicsClientId=c)
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
        wall_quads = [_quad(corners[(i + 1) % 4], corners[i], 0.0, WALL_HEIGHT, half) for i in range(4)]
        t = WALL_THICKNESS / 2
        wall_boxes = [((half + 2 * t, t, WALL_HEIGHT / 2), (0.0, s * (half + t), WALL_HEIGHT / 2)) for s in (-1, 1)]
        wall_boxes += [((t, half + 2 * t, WALL_HEIGHT / 2), (s * (half + t), 0.0, WALL_HEIGHT / 2)) for s in (-1, 1)]
        wall_col = p.createCollisionShapeArray(
            shapeTypes=[p.GEOM_BOX] * 4, halfExtents=[list(h) for h, _ in wall_boxes],
            collisionFramePositions=[list(pos) for _, pos in wall_boxes], physicsClientId=c)
        self.walls = [p.createMultiBody(0, wall_col, self._mesh(wall_quads), physicsClientId=c)]

        self.chair = -1
        self.chair_mesh: str | None = None
        self.set_chair_mesh(chair_mesh, chair_mesh_scale)

        self.obstacles = []
        self.obstacle_radii = []
        for i in range(config.n_obstacles):
            parts, hx = (((_BOX_HALF, (0, 0, _BOX_HALF[2])),), _BOX_HALF) if i % 2 == 0 else (_TABLE_PARTS, _TABLE_HALF)
            col = p.createCollisionShape(p.GEOM_BOX, halfExtents=hx, collisionFramePosition=[0, 0, hx[2]],
                                         physicsClientId=c)
            self.obstacles.append(p.createMultiBody(0, col, self._visual(parts), basePosition=[0, 0, -10],
                                                    physicsClientId=c))
            self.obstacle_radii.append(_footprint_radius(hx))

        robot_col = p.createCollisionShape(p.GEOM_CYLINDER, radius=config.robot_radius, height=0.3, physicsClientId=c)
        self.robot = p.createMultiBody(1.0, robot_col, -1, basePosition=[0, 0, -10], physicsClientId=c)
        self._update_labels()

    # --- building ----------------------------------------------------------------------------
    def _visual(self, parts) -> int:
        return p.createVisualShapeArray(
            shapeTypes=[p.GEOM_BOX] * len(parts), halfExtents=[list(h) for h, _ in parts],
            visualFramePositions=[list(c) for _, c in parts], physicsClientId=self.client)

    def _mesh(self, quads: list[tuple[list, list]]) -> int:
        verts, uvs, idx = [], [], []
        for qv, quv in quads:
            n = len(verts)
            verts += qv
            uvs += quv
            idx += [n, n + 1, n + 2, n, n + 2, n + 3]
        normals = [[0.0, 0.0, 1.0]] * len(verts)  # TinyRenderer shades from face normals; these are unused
        return p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=idx, uvs=uvs, normals=normals,
                                   physicsClientId=self.client)

    def set_chair_mesh(self, mesh: str | None, scale: float = 1.0) -> None:
        """Draw the chair with ``mesh`` (an OBJ file: metres, z up, origin at the floor) or the built-in one."""
        if self.chair >= 0 and mesh == self.chair_mesh:
            return
        if mesh is not None:
            check_mesh_file(mesh)  # PyBullet would only print a warning and draw no chair
        pose = ((0, 0, -10), (0, 0, 0, 1))
        if self.chair >= 0:
            pose = p.getBasePositionAndOrientation(self.chair, physicsClientId=self.client)
            p.removeBody(self.chair, physicsClientId=self.client)
            self._applied.pop(self.chair, None)
        if mesh is None:
            visual = self._visual(_CHAIR_PARTS)
        else:
            visual = p.createVisualShape(p.GEOM_MESH, fileName=str(mesh), meshScale=[scale] * 3,
                                         physicsClientId=self.client)
            if visual < 0:
                raise ValueError(f"PyBullet could not load chair mesh {mesh}; give a valid .obj file")
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=CHAIR_HALF, collisionFramePosition=[0, 0, CHAIR_HALF[2]],
                                     physicsClientId=self.client)
        self.chair = p.createMultiBody(0, col, visual, basePosition=pose[0], baseOrientation=pose[1],
                                       physicsClientId=self.client)
        self.chair_mesh = mesh
        self._update_labels()
        self.forget_frames()

    def _update_labels(self) -> None:
        """Lookup table from PyBullet body id (+1, so background -1 maps to 0) to semantic class."""
        ids = {self.floor: FLOOR, self.chair: CHAIR, **{w: WALL for w in self.walls},
               **{o: OBSTACLE for o in getattr(self, "obstacles", [])}, getattr(self, "robot", -1): BACKGROUND}
        lut = np.zeros(p.getNumBodies(physicsClientId=self.client) + max(ids) + 2, np.uint8)
        for body, cls in ids.items():
            lut[body + 1] = cls
        self._lut = lut
        self._seg_lut = np.roll(lut, -1)  # indexed by the body id itself: -1 (background) is its last entry

    # --- per episode --------------------------------------------------------------------------
    def sample_layout(self, rng: np.random.Generator) -> Layout:
        """Draw chair, obstacles and start pose with clearances; only ``rng`` decides."""
        cfg = self.config
        half = cfg.room_size / 2
        chair_r = _footprint_radius(CHAIR_HALF)
        for _ in range(1000):
            m = 0.35 + chair_r
            chair = Pose2D(*rng.uniform([-half + m, -half + m, -math.pi], [half - m, half - m, math.pi]))
            placed: list[tuple[Pose2D, float]] = [(chair, chair_r)]
            ok = True
            for r in self.obstacle_radii:
                for _ in range(100):
                    m = r + 0.1
                    cand = Pose2D(*rng.uniform([-half + m, -half + m, -math.pi], [half - m, half - m, math.pi]))
                    gap = 2 * cfg.robot_radius + 0.2  # room for the robot to pass between things
                    if all(math.hypot(cand.x - q.x, cand.y - q.y) > r + qr + gap for q, qr in placed):
                        placed.append((cand, r))
                        break
                else:
                    ok = False
                    break
            if not ok:
                continue
            m = cfg.robot_radius + 0.15
            for _ in range(200):
                start = Pose2D(*rng.uniform([-half + m, -half + m, -math.pi], [half - m, half - m, math.pi]))
                far = math.hypot(start.x - chair.x, start.y - chair.y) >= cfg.min_start_distance
                if far and all(math.hypot(start.x - q.x, start.y - q.y) > qr + m for q, qr in placed):
                    return Layout(chair, tuple(q for q, _ in placed[1:]), start)
        raise RuntimeError("could not place the room's objects; make the room larger or use fewer obstacles")

    def apply_layout(self, layout: Layout) -> None:
        """Move chair and obstacles to ``layout`` (no bodies are created)."""
        self.forget_frames()
        c = self.client
        p.resetBasePositionAndOrientation(self.chair, [layout.chair.x, layout.chair.y, 0], _quat(layout.chair.yaw),
                                          physicsClientId=c)
        for body, pose in zip(self.obstacles, layout.obstacles, strict=True):
            p.resetBasePositionAndOrientation(body, [pose.x, pose.y, 0], _quat(pose.yaw), physicsClientId=c)

    def collides(self, x: float, y: float) -> bool:
        """True if the robot's cylinder at (x, y) touches a wall, the chair or an obstacle.

        The cylinder is parked out of sight again afterwards: left in place, its top is in the
        bottom of the camera's view (the camera sits above it) and would hide the floor there.
        """
        c = self.client
        p.resetBasePositionAndOrientation(self.robot, [x, y, 0.2], (0, 0, 0, 1), physicsClientId=c)
        p.performCollisionDetection(physicsClientId=c)
        hit = len(p.getContactPoints(bodyA=self.robot, physicsClientId=c)) > 0
        p.resetBasePositionAndOrientation(self.robot, [0, 0, -10], (0, 0, 0, 1), physicsClientId=c)
        return hit

    # --- appearance ---------------------------------------------------------------------------
    def _texture_id(self, texture: str | None) -> int:
        if texture is None:
            return -1
        if texture not in self._textures:
            path = texture_path(texture)
            check_texture_file(path)  # PyBullet would only print a warning and draw without it
            tid = p.loadTexture(str(path), physicsClientId=self.client)
            if tid < 0:
                raise ValueError(f"PyBullet could not load texture {path}; give a PNG or JPEG image")
            self._textures[texture] = tid
        return self._textures[texture]

    def _material(self, body: int, mat: Material) -> None:
        state = (mat.color, mat.texture)
        if self._applied.get(body) == state:
            return
        p.changeVisualShape(body, -1, rgbaColor=list(mat.color), textureUniqueId=self._texture_id(mat.texture),
                            physicsClientId=self.client)
        self._applied[body] = state
        self.forget_frames()

    def apply_look(self, look: Look) -> None:
        """Swap colours, textures and the chair mesh to ``look``; geometry is untouched."""
        self.set_chair_mesh(look.chair_mesh, look.chair_mesh_scale)
        self._material(self.floor, look.floor)
        for w in self.walls:
            self._material(w, look.walls)
        self._material(self.chair, look.chair)
        for o in self.obstacles:
            self._material(o, look.obstacles)

    # --- rendering ----------------------------------------------------------------------------
    def camera_matrices(self, pose: Pose2D, width: int, height: int) -> tuple:
        """View and projection matrices of the egocentric camera at ``pose``."""
        cfg = self.config
        if (width, height) not in self._projections:
            far = cfg.room_size * 1.5 + 1.0
            self._projections[(width, height)] = p.computeProjectionMatrixFOV(cfg.fov_deg, width / height, 0.05, far)
        pitch = math.radians(cfg.camera_pitch_deg)
        eye = (pose.x, pose.y, cfg.camera_height)
        fwd = (math.cos(pose.yaw) * math.cos(pitch), math.sin(pose.yaw) * math.cos(pitch), math.sin(pitch))
        target = (eye[0] + fwd[0], eye[1] + fwd[1], eye[2] + fwd[2])
        view = p.computeViewMatrix(eye, target, (0, 0, 1))
        return view, self._projections[(width, height)]

    def forget_frames(self) -> None:
        """Drop the frames :meth:`render` kept (called whenever the scene changes)."""
        self._frames.clear()
        self._frames_bytes = 0

    def _use_look(self, look: Look) -> None:
        """Make ``look`` the one the kept frames belong to, with its getCameraImage light arguments."""
        self.forget_frames()
        self._frames_look = look
        light = look.light
        self._look_args = dict(
            renderer=p.ER_TINY_RENDERER, lightDirection=list(light.direction), lightColor=list(light.color),
            lightDistance=light.distance, shadow=int(light.shadows), lightAmbientCoeff=light.ambient,
            lightDiffuseCoeff=light.diffuse, lightSpecularCoeff=light.specular, physicsClientId=self.client)
        self._background.clear()

    def _sky(self, look: Look, width: int, height: int) -> np.ndarray:
        """A frame of the look's background colour (the value the sky pixels get, cast as a uint8 pixel)."""
        key = (width, height)
        if key not in self._background:
            sky = np.empty((height, width, 3), np.uint8)
            sky[...] = np.asarray(look.background, np.float32) * 255.0
            self._background[key] = sky
        return self._background[key]

    def render(self, pose: Pose2D, width: int, height: int, look: Look) -> tuple[np.ndarray, np.ndarray]:
        """Render RGB (uint8 H x W x 3, before camera effects) and class labels (uint8 H x W).

        Both are new arrays of the caller's. A pose drawn before in this layout and look is answered
        from the kept frames (see the module docstring); ``frame_cache_bytes = 0`` draws every frame.
        """
        if look is not self._frames_look:
            self._use_look(look)
        key = (pose, width, height)
        kept = self._frames.get(key)
        if kept is None:
            kept = self._draw(pose, width, height, look)
            size = kept[0].nbytes + kept[1].nbytes
            if self._frames_bytes + size > self.frame_cache_bytes:
                self.forget_frames()
            if size <= self.frame_cache_bytes:
                self._frames[key] = kept
                self._frames_bytes += size
            else:
                return kept
        return kept[0].copy(), kept[1].copy()

    def _draw(self, pose: Pose2D, width: int, height: int, look: Look) -> tuple[np.ndarray, np.ndarray]:
        """One getCameraImage: RGB with the sky in the look's background colour, and the class labels."""
        if look is not self._frames_look:
            self._use_look(look)
        view, proj = self.camera_matrices(pose, width, height)
        _, _, rgba, _, seg = p.getCameraImage(width, height, view, proj, **self._look_args)
        rgb = cv2.cvtColor(np.asarray(rgba, np.uint8).reshape(height, width, 4), cv2.COLOR_RGBA2RGB)
        labels = self._seg_lut.take(np.reshape(seg, (height, width)))
        rgb = cv2.copyTo(self._sky(look, width, height), (labels == BACKGROUND).view(np.uint8), rgb)
        return rgb, labels

    def close(self) -> None:
        """Disconnect the PyBullet client (idempotent)."""
        if self.client >= 0:
            self._finalizer()
            self.client = -1


def write_chair_obj(path: str | Path) -> Path:
    """Write the built-in chair's boxes as an OBJ mesh file (an example of the ``chair_mesh`` format)."""
    lines, faces = [], []
    n = 0
    for (hx, hy, hz), (cx, cy, cz) in _CHAIR_PARTS:
        for sx in (-1, 1):
            for sy in (-1, 1):
                for sz in (-1, 1):
                    lines.append(f"v {cx + sx * hx:.4f} {cy + sy * hy:.4f} {cz + sz * hz:.4f}")
        quads = ((1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4))
        faces += [f"f {n + a} {n + b} {n + c}\nf {n + a} {n + c} {n + d}" for a, b, c, d in quads]
        n += 8
    path = Path(path)
    path.write_text("\n".join(lines + faces) + "\n", encoding="utf-8")
    return path
