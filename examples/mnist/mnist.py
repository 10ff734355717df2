"""A real trial: a small convolutional network on scikit-learn's bundled 8x8 digits.

It reads the seed example's five hyperparameters with ``nni.get_next_parameter()`` and reports
``{'default': validation error, 'accuracy': validation accuracy}`` after every epoch and at the
end. The error is the default metric because the seed's launch script uses
``HyperoptTuner('tpe')``, which minimises: lower is better, so TPE and the page rank the most
accurate trial first. Run it by hand and it trains once with the defaults below (standalone mode).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import nni

DEFAULTS = {"dropout_rate": 0.5, "conv_size": 3, "hidden_size": 512, "batch_size": 32, "learning_rate": 0.001}
EPOCHS = 10


class Net(nn.Module):
    def __init__(self, conv_size: int, hidden_size: int, dropout_rate: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, conv_size, padding="same"), nn.ReLU(),
            nn.Conv2d(32, 64, conv_size, padding="same"), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout_rate), nn.Linear(64 * 4 * 4, hidden_size), nn.ReLU(),
            nn.Dropout(dropout_rate), nn.Linear(hidden_size, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def main() -> None:
    params = {**DEFAULTS, **nni.get_next_parameter()}
    torch.set_num_threads(1)  # trials run side by side: one core each
    torch.manual_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0)
    train = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    loader = torch.utils.data.DataLoader(train, batch_size=int(params["batch_size"]), shuffle=True)
    model = Net(int(params["conv_size"]), int(params["hidden_size"]), float(params["dropout_rate"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params["learning_rate"]))
    loss_fn = nn.CrossEntropyLoss()
    test_x, test_y = torch.from_numpy(x_test), torch.from_numpy(y_test)
    result = {"default": 1.0, "accuracy": 0.0}
    for _ in range(EPOCHS):
        model.train()
        for batch_x, batch_y in loader:
            optimizer.zero_grad()
            loss_fn(model(batch_x), batch_y).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
        result = {"default": 1.0 - accuracy, "accuracy": accuracy}
        nni.report_intermediate_result(result)
    nni.report_final_result(result)


if __name__ == "__main__":
    main()
