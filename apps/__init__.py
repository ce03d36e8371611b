"""Applications on a trained model: render export, prompt -> id selection, editing."""
