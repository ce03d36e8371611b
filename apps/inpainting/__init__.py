"""Inpainting after removal: hole masks, 2D inpainters, seeding and fine-tuning (`pipeline`)."""
