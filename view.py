"""Look at a trained model in the browser: RGB, identity features, object ids, one object
isolated or removed; click to pick objects and name them into prompts.json.

    python view.py -m output/scene                  # then open http://127.0.0.1:8080
    python view.py -m output/scene --iteration 7000 --port 8081 --render_height 512

Named selections are saved to <model>/prompts.json (or --prompts), which
`render.py --prompt_ids` reads. Everything runs locally (see docs/viewer.md).
"""
import argparse
import sys

from apps.viewer.server import ViewerOptions, open_model_viewer, stop_on_sigterm
from arguments import ModelParams, PipelineParams, add_group, combine_with_cfg_args, extract, port_number
from utils.errors import exits_cleanly_on
from utils.memory import keep_freed_memory


def build_parser() -> argparse.ArgumentParser:
    defaults = ViewerOptions()
    parser = argparse.ArgumentParser(description="Interactive viewer of a trained GradiSeg model")
    add_group(parser, ModelParams)
    add_group(parser, PipelineParams)
    parser.add_argument("--iteration", type=int, default=-1, help="saved iteration (-1: latest)")
    parser.add_argument("--port", type=port_number, default=defaults.port)
    parser.add_argument("--host", default=defaults.host,
                        help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--render_height", type=int, default=defaults.render_height,
                        help="rendered picture height in pixels (the GUI's slider changes it)")
    parser.add_argument("--prompts", default="", help="named selections file (default <model>/prompts.json)")
    parser.add_argument("--export_dir", default="", help="exported object PLYs (default <model>/viewer_export)")
    parser.add_argument("--start_view", default="", help="view to open at: test/<name>, train/<name> or <name>")
    return parser


@exits_cleanly_on()
def main(argv=None) -> int:
    keep_freed_memory()   # no page-fault storm from per-iteration buffers (utils/memory.py)
    args = combine_with_cfg_args(build_parser(), argv)
    options = ViewerOptions(host=args.host, port=args.port, render_height=args.render_height,
                            prompts_path=args.prompts, export_dir=args.export_dir, start_view=args.start_view)
    stop_on_sigterm()
    viewer = open_model_viewer(extract(ModelParams, args), extract(PipelineParams, args), args.iteration, options)
    viewer.serve_until_interrupted(f"Viewer at {viewer.url}  (Ctrl+C to quit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
