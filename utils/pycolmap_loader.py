"""The one place pycolmap is imported: every module takes it from here
(`from utils.pycolmap_loader import pycolmap`).

OpenCV must be loaded before pycolmap. pycolmap 4.2.1's wheel brings its own zlib; loaded
first, its symbols win, and cv2's PNG encoder then frees memory that zlib allocated
differently: `cv2.imwrite('x.png', ...)` aborts the process ("free(): invalid pointer") or
corrupts the heap. Loading cv2 here first, whatever the entry point imported before, makes
the order hold everywhere (tests/test_native_imports.py checks that nothing imports pycolmap
another way)."""
import cv2  # noqa: F401  (must precede pycolmap, see above)
import pycolmap

__all__ = ["pycolmap"]
