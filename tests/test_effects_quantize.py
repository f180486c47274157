import numpy as np
import pytest

from neuralbrush.datasets.samples import skimage_photo
from neuralbrush.effects.quantize import kmeans_palette, map_to_palette


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return np.asarray(skimage_photo("coffee").convert("RGB").resize((200, 150)))


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_kmeans_palette_is_deterministic_distinct_and_k(coffee, space):
    pal = kmeans_palette(coffee.reshape(-1, 3), 8, seed=3, space=space, sample=5000)
    assert pal.shape == (8, 3) and pal.dtype == np.uint8
    assert len({tuple(c) for c in pal}) == 8
    assert np.array_equal(pal, kmeans_palette(coffee.reshape(-1, 3), 8, seed=3, space=space, sample=5000))


def test_kmeans_palette_fewer_colours_than_k_returns_them_all():
    px = np.array([[0, 0, 0]] * 500 + [[255, 0, 0]] * 300 + [[1, 2, 3]] * 2, np.uint8)
    pal = kmeans_palette(px, 8, sample=100)  # the sample may miss the rare colour; the result may not
    assert [tuple(c) for c in pal] == [(0, 0, 0), (255, 0, 0), (1, 2, 3)]


def test_map_to_palette_matches_brute_force(coffee):
    pal = kmeans_palette(coffee, 12, seed=0)
    labels = map_to_palette(coffee, pal)
    assert labels.shape == coffee.shape[:2]
    d = ((coffee.reshape(-1, 1, 3).astype(np.int64) - pal[None].astype(np.int64)) ** 2).sum(-1)
    best = d.min(1)
    got = d[np.arange(len(d)), labels.reshape(-1)]
    assert np.array_equal(got, best)  # ties may pick either index, distances must be minimal
