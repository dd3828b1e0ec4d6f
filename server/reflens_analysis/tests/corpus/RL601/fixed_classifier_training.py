"""Training loop for an image classifier."""

import torch
import torch.nn.functional as F
from torch import nn


class SmallNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x.mean(dim=(2, 3))
        return self.head(x)


def train_one_epoch(model, loader, optimizer, device):
    model.train()
    running_loss = 0.0
    batch_losses = []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        batch_losses.append(loss.detach())
    print(f"epoch loss {running_loss / len(loader):.4f}")
    return batch_losses


@torch.no_grad()
def evaluate(model, loader, device):
    model.eval()
    correct = 0
    total = 0
    for images, labels in loader:
        logits = model(images.to(device))
        correct += (logits.argmax(1) == labels.to(device)).sum().item()
        total += labels.numel()
    return correct / max(total, 1)


def fit(epochs, loader, val_loader, device="cpu"):
    model = SmallNet().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer, device)
        accuracy = evaluate(model, val_loader, device)
        print(f"epoch {epoch}: accuracy {accuracy:.3f}")
    return model
