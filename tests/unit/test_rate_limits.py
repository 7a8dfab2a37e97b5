from services.gateway.domain.rate_limits import TokenBuckets


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_bursts_up_to_capacity_then_waits_for_refill():
    clock = Clock()
    buckets = TokenBuckets(capacity=3, refill_per_second=2, clock=clock)
    decisions = [buckets.take("key_a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].retry_after_seconds == 1 and decisions[-1].reset_seconds == 2
    clock.now += 0.5
    assert buckets.take("key_a").allowed
    assert not buckets.take("key_a").allowed


def test_keys_have_their_own_buckets_and_refill_stops_at_capacity():
    clock = Clock()
    buckets = TokenBuckets(capacity=2, refill_per_second=1, clock=clock)
    buckets.take("key_a"), buckets.take("key_a")
    assert buckets.take("key_b").remaining == 1
    clock.now += 1000
    assert buckets.take("key_a").remaining == 1


def test_peeking_spends_nothing_and_full_buckets_are_forgotten():
    clock = Clock()
    buckets = TokenBuckets(capacity=2, refill_per_second=1, clock=clock, max_keys=2)
    assert buckets.peek("key_a").remaining == 2
    buckets.take("key_a")
    assert buckets.peek("key_a").remaining == 1 == buckets.peek("key_a").remaining
    clock.now += 2
    assert len(buckets._buckets) == 0
    for key in ("key_a", "key_b", "key_c"):
        buckets.take(key)
    assert len(buckets._buckets) == 2
