"""The profile's face, with its mouth cavity, rendered for batches of (expression, pose, crop camera)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from backend.core.errors import UserError
from backend.face.model import FaceModel
from backend.face.posing import project_np
from backend.face.profile import Profile
from backend.render import raster
from backend.render.mouth import DEFAULT_COLOURS, cavity_mesh, paint_patch, posed_with_cavity


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread. A batch of face renders is many small ops: with 2 threads on a busy
    2-core machine, thread hand-offs cost more than they save (measured 6 ms/frame CPU on one thread vs
    20-120 ms with two while other processes ran), and the spare core keeps the video encoder busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Faces:
    images: np.ndarray  # [B,S,S,3] float in [0,1]
    masks: np.ndarray  # [B,S,S] bool: face or cavity
    cavity: np.ndarray  # [B,S,S] bool: the mouth cavity's pixels
    points: np.ndarray  # [B,V,2] the face-mesh vertices in crop px, where the render put them


class FaceRenderer:
    """Textured, SH-lit face + mouth cavity through backend.render.raster, at size x size px."""

    def __init__(self, model: FaceModel, albedo: np.ndarray, sh: np.ndarray, size: int,
                 mouth_colours: np.ndarray = DEFAULT_COLOURS) -> None:
        mesh = cavity_mesh(model.vertices, model.triangles, model.uvs)
        self.size = size
        self.n_face = mesh.n_face
        self.identity = torch.as_tensor(model.vertices, dtype=torch.float32)
        self.basis = torch.as_tensor(model.basis, dtype=torch.float32)
        self.triangles = torch.as_tensor(mesh.triangles).long()
        self.uvs = torch.as_tensor(mesh.uvs)
        self.albedo = torch.as_tensor(paint_patch(albedo, mouth_colours)).permute(2, 0, 1)[None].contiguous()
        self.sh = torch.as_tensor(sh, dtype=torch.float32)

    def vertices(self, expression: np.ndarray, pose: np.ndarray) -> torch.Tensor:
        return posed_with_cavity(self.identity, self.basis, torch.as_tensor(expression, dtype=torch.float32),
                                 torch.as_tensor(pose, dtype=torch.float32))

    @torch.no_grad()
    def draw(self, expression: np.ndarray, pose: np.ndarray, cameras: np.ndarray) -> Faces:
        with single_thread():
            verts = self.vertices(expression, pose)
            out = raster.render(verts, self.triangles, self.uvs, self.albedo, self.sh,
                                torch.as_tensor(cameras, dtype=torch.float32), self.size, self.size)
            tri = out.raster.tri_id
            face = verts[:, :self.identity.shape[0]].numpy()
            points = np.stack([project_np(face[b], cameras[b]) for b in range(len(face))]).astype(np.float32)
            return Faces(images=out.image.clamp(0, 1).numpy(), masks=(tri >= 0).numpy(),
                         cavity=(tri >= self.n_face).numpy(), points=points)

    def render(self, expression: np.ndarray, pose: np.ndarray, cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (images [B,S,S,3] float in [0,1], masks [B,S,S] bool)."""
        faces = self.draw(expression, pose, cameras)
        return faces.images, faces.masks


def load_albedo(profile: Profile) -> np.ndarray:
    """The profile's texture.png as float RGB in 0..1."""
    bgr = cv2.imread(str(profile.path / "texture.png"), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"profile {profile.path} has no readable texture.png", hint="re-run `talking-head analyze`")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
