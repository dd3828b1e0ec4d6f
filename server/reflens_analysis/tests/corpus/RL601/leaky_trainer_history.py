"""A small trainer class that records its history for plotting."""

import torch
from torch import nn


class Trainer:
    def __init__(self, model, lr=1e-3):
        self.model = model
        self.criterion = nn.MSELoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.history = {"train": [], "val": []}
        self.best = None

    def run_epoch(self, loader):
        self.model.train()
        for x, y in loader:
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            self.history["train"].append(loss)  # expect: RL601
            if self.best is None or loss < self.best:
                self.best = loss.clone()  # expect: RL601

    def validate(self, loader):
        val_loss = 0
        for x, y in loader:
            val_loss += self.criterion(self.model(x), y)  # expect: RL601
        self.history["val"].append(val_loss / len(loader))
        return val_loss

    def summary(self):
        train = self.history["train"]
        return {
            "steps": len(train),
            "best": None if self.best is None else float(self.best),
        }


def main(loader, val_loader):
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    trainer = Trainer(model)
    for _ in range(5):
        trainer.run_epoch(loader)
        trainer.validate(val_loader)
    return trainer.summary()
