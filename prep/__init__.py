"""From a user's own photos to a scene GradiSeg trains on.

`prep.sfm` runs structure from motion with pycolmap (`convert.py`); `prep.mask_sources` reads
per-view 2D instance masks (a folder of PNGs, or SAM / SAM 2 when installed); `prep.geometry`
turns a scene's SfM tracks and, optionally, rendered depth into per-view observations of 3D
points; `prep.association` groups the 2D masks into 3D-consistent objects
(`prepare_masks.py`); `prep.report` writes `object_mask/association.json`.
"""
