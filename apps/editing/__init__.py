"""Scene editing: the edit plan (parsing, validation), the operations on Gaussians, and model-folder I/O."""
