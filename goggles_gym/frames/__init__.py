"""Frame collections: folders of PNG frames (and label maps; for paired sim collections, the same
poses' sim renders) with a manifest, and their sources."""

from goggles_gym.frames.collection import (
    CollectionWriter,
    FrameCollection,
    FrameCollectionError,
    export_cyclegan_layout,
    import_image_folder,
    read_collection,
)
from goggles_gym.frames.images import center_crop_resize

__all__ = ["CollectionWriter", "FrameCollection", "FrameCollectionError", "center_crop_resize",
           "export_cyclegan_layout", "import_image_folder", "read_collection"]
