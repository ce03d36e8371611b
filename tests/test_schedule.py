"""The schedule's windows at their edges (paper defaults, scaled down)."""
from arguments import GradiSegParams, OptimizationParams
from method.schedule import TrainingSchedule


def schedule(**method) -> TrainingSchedule:
    opt = OptimizationParams(densify_from_iter=50, densify_until_iter=1200, densification_interval=100,
                             opacity_reset_interval=300)
    params = dict(igd_from_iter=1200, igd_until_iter=1500, igd_interval=100, laknn_from_iter=1500)
    params.update(method)
    return TrainingSchedule(opt, GradiSegParams(**params), white_background=False)


def test_windows_open_and_close_where_configured():
    s = schedule()
    assert [i for i in range(0, 1700, 100) if s.densify(i)] == list(range(100, 1200, 100))
    assert [i for i in range(0, 1700, 50) if s.igd(i)] == [1300, 1400, 1500]
    assert not s.laknn(1499) and s.laknn(1500) and s.laknn(30_000)
    assert [i for i in range(1400, 1600) if s.laknn_starts(i)] == [1500]
    # IGD reads the interval before each round; LA-KNN's directions build up from then on.
    assert not s.accumulate_identity_gradients(1200) and s.accumulate_identity_gradients(1201)
    assert s.accumulate_identity_gradients(1500) and not s.accumulate_identity_gradients(1501)
    assert not s.accumulate_position_gradients(1200) and s.accumulate_position_gradients(1201)
    assert s.accumulate_position_gradients(20_000)


def test_switches_remove_their_module_and_its_statistics():
    s = schedule(no_igd=True, no_laknn=True)
    assert not any(s.igd(i) or s.laknn(i) or s.laknn_starts(i) or s.accumulate_identity_gradients(i)
                   or s.accumulate_position_gradients(i) for i in range(0, 3000, 10))
    assert [i for i in range(0, 1700, 100) if s.densify(i)] == list(range(100, 1200, 100))


def test_timed_actions_outside_the_method_windows():
    s = TrainingSchedule(OptimizationParams(sh_increase_interval=1000), GradiSegParams(laknn_from_iter=1500),
                         white_background=False, debug_from=7)
    assert [i for i in range(1, 3001) if s.increase_sh_degree(i)] == [1000, 2000, 3000]
    assert [i for i in range(1, 100) if s.start_rasterizer_debug(i)] == [7]
    assert [i for i in range(1, 1801) if s.log_laknn_fallback(i)] == [1500, 1600, 1700, 1800]
    never = TrainingSchedule(OptimizationParams(), GradiSegParams(no_laknn=True), white_background=False)
    assert not any(never.start_rasterizer_debug(i) or never.log_laknn_fallback(i) for i in range(-1, 40_000))
