"""Word vectors for a search service, loaded once per worker."""

import functools

import numpy as np

_SHARDS = {}


class EmbeddingStore:
    def __init__(self, vectors_path, vocab_path, top_k=20000):
        vectors = np.load(vectors_path)
        with open(vocab_path, encoding="utf-8") as handle:
            words = [line.strip() for line in handle]
        self.words = words[:top_k]
        self.index = {word: i for i, word in enumerate(self.words)}
        self.vectors = vectors[:top_k]  # expect: RL602
        self.dim = vectors.shape[1]

    def vector(self, word):
        position = self.index.get(word)
        if position is None:
            return np.zeros(self.dim, dtype=np.float32)
        return self.vectors[position]

    def most_similar(self, word, count=10):
        query = self.vector(word)
        scores = self.vectors @ query
        best = np.argsort(-scores)[:count]
        return [(self.words[i], float(scores[i])) for i in best]


def load_shard(path, shard, size):
    data = np.fromfile(path, dtype=np.float32).reshape(-1, 300)
    _SHARDS[shard] = data[shard * size:(shard + 1) * size]  # expect: RL602


@functools.lru_cache(maxsize=8)
def centroid_table(path):
    archive = np.load(path)
    return archive["centroids"][:256]  # expect: RL602


def nearest_centroid(path, vector):
    table = centroid_table(path)
    return int(np.argmin(((table - vector) ** 2).sum(axis=1)))
