"""Fine-tuning loop for the ranking model."""

import gc

import numpy as np
import torch


class Trainer:
    def __init__(self, model, optimizer, device="cuda"):
        self.model = model
        self.optimizer = optimizer
        self.device = device
        self.history = []
        self.last_batch = None

    def load_shard(self, path):
        features = np.load(path)
        self.last_batch = features
        tensor = torch.from_numpy(features).to(self.device)
        del features  # expect: RL701
        gc.collect()
        return tensor

    def step(self, batch, labels):
        self.optimizer.zero_grad()
        logits = self.model(batch)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def evaluate(self, batch):
        with torch.no_grad():
            scores = self.model(batch).cpu()
        self.history.append(scores)
        del scores  # expect: RL701
        torch.cuda.empty_cache()
        return len(self.history)

    def run(self, shard_paths, labels):
        losses = []
        for path in shard_paths:
            batch = self.load_shard(path)
            losses.append(self.step(batch, labels))
            del batch
            torch.cuda.empty_cache()
        return sum(losses) / max(len(losses), 1)
