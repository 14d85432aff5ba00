import pytest

from neural_nas.pareto import pareto_front


@pytest.mark.parametrize(
    ("points", "hib", "expected"),
    [
        ([[3, 1], [1, 3], [2, 2], [1, 1]], None, [0, 1, 2]),  # SPEC example
        ([[1, 2], [2, 1], [1, 2], [0, 0]], None, [0, 1]),  # SPEC example: the duplicate keeps only its first copy
        ([[1], [3], [3], [2]], None, [1]),  # single metric, tie: first of the identical points
        ([[1], [3], [2]], [False], [0]),  # lower is better
        ([[1, 5], [2, 5]], [True, True], [1]),  # equal in one metric, better in the other: dominated
        ([[1, 5], [2, 5]], [False, True], [0]),
        ([[2, 2], [2, 2], [2, 2]], None, [0]),
        ([[5, 1], [1, 5], [3, 3], [3, 3]], None, [0, 1, 2]),
        ([], None, []),
        ([[1, 2, 3], [3, 2, 1], [1, 1, 1], [2, 2, 2]], [True, True, True], [0, 1, 3]),
        ([[0.9, 100], [0.8, 50], [0.85, 200]], [True, False], [0, 1]),
    ],
)
def test_pareto_front(points, hib, expected):
    assert pareto_front(points, hib) == expected


def test_no_kept_point_is_dominated_and_every_dropped_point_is():
    import numpy as np

    rng = np.random.default_rng(0)
    pts = rng.integers(0, 5, size=(60, 3)).tolist()
    front = pareto_front(pts)

    def dominates(a, b):
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    for i in front:
        assert not any(dominates(p, pts[i]) for p in pts)
    for i in set(range(len(pts))) - set(front):
        assert any(dominates(p, pts[i]) for p in pts) or pts[i] in [pts[j] for j in range(i)]


def test_higher_is_better_length_mismatch():
    with pytest.raises(ValueError, match="higher_is_better"):
        pareto_front([[1, 2]], [True])
