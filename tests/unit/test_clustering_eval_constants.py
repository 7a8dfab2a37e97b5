import numpy as np
import pytest

from eval.clustering.__main__ import override
from services.clustering.domain import clustering, similarity


@pytest.fixture
def restored():
    weights, ratio = similarity.ASPECT_WEIGHTS.copy(), clustering.COHESION_RATIO
    yield
    similarity.ASPECT_WEIGHTS[:] = weights
    clustering.COHESION_RATIO = ratio


def test_an_eval_run_can_try_other_weights_in_place_and_another_ratio(restored):
    held_by_clustering = clustering.ASPECT_WEIGHTS
    changed = override("similarity.ASPECT_WEIGHTS=1,1,1,2,0.5")
    assert changed.endswith("-> [1.0, 1.0, 1.0, 2.0, 0.5]")
    assert held_by_clustering is similarity.ASPECT_WEIGHTS and held_by_clustering[4] == 0.5
    override("clustering.COHESION_RATIO=0.7")
    assert clustering.COHESION_RATIO == 0.7


def test_a_constant_of_another_shape_or_kind_is_refused(restored):
    before = similarity.ASPECT_WEIGHTS.copy()
    with pytest.raises(SystemExit, match="has 5 values, not 2"):
        override("similarity.ASPECT_WEIGHTS=1,2")
    with pytest.raises(SystemExit, match="not a number"):
        override("embedding.ASPECTS=a")
    assert np.array_equal(similarity.ASPECT_WEIGHTS, before)
