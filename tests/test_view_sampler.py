from training.view_sampler import ViewSampler


def test_each_epoch_visits_every_view_once():
    sampler = ViewSampler(7, seed=3)
    for _ in range(3):
        assert sorted(sampler.next() for _ in range(7)) == list(range(7))


def test_state_round_trip_continues_identically():
    sampler = ViewSampler(5, seed=1)
    for _ in range(3):
        sampler.next()
    state = sampler.state_dict()
    expected = [sampler.next() for _ in range(12)]
    resumed = ViewSampler(5, seed=99)
    resumed.load_state_dict(state)
    assert [resumed.next() for _ in range(12)] == expected
