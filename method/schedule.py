"""When each timed action of training happens: the whole schedule in one readable place.

Defaults for 30k iterations (paper section 4.1 and supplement 6; all keys configurable):

    iterations        1 ..... 500 ....... 12k ....... 15k ............ 30k
    3DGS densify            [500 ------- 12k)  every densification_interval
    opacity reset           every opacity_reset_interval while densifying
    IGD                                   [12k ------ 15k]  every igd_interval
    3D identity loss  global KNN -------------------- 15k) LA-KNN [15k -- 30k]

    SH degree         one more every sh_increase_interval (1000) up to sh_degree
    LA-KNN fallback   logged every LAKNN_LOG_INTERVAL iterations while LA-KNN runs
    rasterizer debug  on from debug_from (-1: never)

`--no_igd` drops the IGD row, `--no_laknn` keeps global KNN to the end; both is Gaussian
Grouping (3DGS densification, then nothing, global KNN throughout). The position learning
rate follows its own decay every iteration (`GaussianModel.update_learning_rate`).
"""
from __future__ import annotations

from arguments import GradiSegParams, OptimizationParams

LAKNN_LOG_INTERVAL = 100    # iterations between LA-KNN fallback-fraction events


class TrainingSchedule:
    def __init__(self, opt: OptimizationParams, method: GradiSegParams, white_background: bool,
                 debug_from: int = -1):
        self.opt, self.method, self.white_background = opt, method, white_background
        self.debug_from = debug_from

    def increase_sh_degree(self, iteration: int) -> bool:
        """3DGS adds one SH degree every sh_increase_interval iterations (up to the model's maximum)."""
        return iteration % self.opt.sh_increase_interval == 0

    def start_rasterizer_debug(self, iteration: int) -> bool:
        return self.debug_from >= 0 and iteration == self.debug_from

    def accumulate_densification_stats(self, iteration: int) -> bool:
        return iteration < self.opt.densify_until_iter

    def densify(self, iteration: int) -> bool:
        opt = self.opt
        return (opt.densify_from_iter < iteration < opt.densify_until_iter
                and iteration % opt.densification_interval == 0)

    def prune_large_gaussians(self, iteration: int) -> bool:
        """3DGS prunes world-space giants only once the first opacity reset has happened."""
        return iteration > self.opt.opacity_reset_interval

    def reset_opacity(self, iteration: int) -> bool:
        opt = self.opt
        if iteration >= opt.densify_until_iter:
            return False
        return iteration % opt.opacity_reset_interval == 0 or (
            self.white_background and iteration == opt.densify_from_iter)

    def igd(self, iteration: int) -> bool:
        m = self.method
        return (not m.no_igd and m.igd_from_iter < iteration <= m.igd_until_iter
                and iteration % m.igd_interval == 0)

    def identity_loss_3d(self, iteration: int) -> bool:
        interval = self.opt.reg3d_interval
        return interval > 0 and iteration % interval == 0

    def laknn(self, iteration: int) -> bool:
        return not self.method.no_laknn and iteration >= self.method.laknn_from_iter

    def laknn_starts(self, iteration: int) -> bool:
        return not self.method.no_laknn and iteration == self.method.laknn_from_iter

    def log_laknn_fallback(self, iteration: int) -> bool:
        return self.laknn(iteration) and iteration % LAKNN_LOG_INTERVAL == 0

    def accumulate_identity_gradients(self, iteration: int) -> bool:
        """IGD reads the identity gradients of the interval before each of its rounds (the
        statistic restarts after every round)."""
        m = self.method
        return not m.no_igd and m.igd_from_iter < iteration <= m.igd_until_iter

    def accumulate_position_gradients(self, iteration: int) -> bool:
        """LA-KNN reads the position gradients accumulated from the IGD window on (so that its
        directions exist when it starts)."""
        m = self.method
        return not m.no_laknn and iteration > min(m.igd_from_iter, m.laknn_from_iter)

    def describe(self) -> str:
        m, opt = self.method, self.opt
        parts = [f"3DGS densification ({opt.densify_from_iter}, {opt.densify_until_iter}) "
                 f"every {opt.densification_interval}"]
        parts.append("IGD off" if m.no_igd else
                     f"IGD ({m.igd_from_iter}, {m.igd_until_iter}] every {m.igd_interval}")
        parts.append("global KNN throughout" if m.no_laknn else
                     f"global KNN then LA-KNN from {m.laknn_from_iter}")
        return "; ".join(parts)
