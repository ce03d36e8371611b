"""The interactive viewer (`view.py`, `train.py --viewer`): a viser server whose pictures our
rasterizer renders at the browser's camera (`camera.py`), composed per display mode
(`modes.py`) from a detached copy of the model with the live edits applied
(`display_model.py`); clicks pick object ids and name them into prompts.json (`picking.py`);
`server.py` holds the GUI and the render loop."""
