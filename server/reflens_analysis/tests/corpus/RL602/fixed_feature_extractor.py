"""Sentence features from a transformer encoder, kept for a nearest-neighbour index."""

import torch
from torch import nn


class FeatureIndex:
    def __init__(self, model: nn.Module, device="cpu"):
        self.model = model.to(device).eval()
        self.device = device
        self.features = []
        self.labels = []
        self.last_batch = None

    @torch.no_grad()
    def add_batch(self, input_ids, labels):
        hidden = self.model(input_ids.to(self.device))
        self.features.append(hidden[:, 0].clone())
        self.labels.extend(labels)
        self.last_batch = hidden[-1].clone()

    def matrix(self):
        return torch.cat(self.features) if self.features else torch.empty(0)

    def query(self, vector, k=5):
        matrix = self.matrix()
        if matrix.numel() == 0:
            return []
        scores = matrix @ vector
        top = torch.topk(scores, min(k, scores.numel()))
        return [(self.labels[i], float(s)) for s, i in zip(top.values, top.indices)]


def build_index(model, loader):
    index = FeatureIndex(model)
    for input_ids, labels in loader:
        index.add_batch(input_ids, labels)
    return index
