"""labsim's stand-in for eval-offline-chi's workspace/tests/conftest.py (written for the
simulator; README.md): the fixtures the suite's tests ask for, run on the simulated course model
(fakeml's torch and torchvision)."""

import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

SIDE = 224
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@pytest.fixture(scope="session")
def transform():
    steps = [
        transforms.Resize((SIDE, SIDE)),
        transforms.CenterCrop(SIDE),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    return transforms.Compose(steps)


@pytest.fixture(scope="session")
def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="session")
def model(device):
    loaded = torch.load(
        os.path.join("models", "food11.pth"), map_location=device, weights_only=False
    )
    return loaded.eval()


@pytest.fixture(scope="session")
def predict(transform):
    """predict(model, device, pil_image) -> the index of the class the model picks."""

    def classify(net, where, image):
        with torch.no_grad():
            batch = transform(image).unsqueeze(0).to(where)
            return net(batch).argmax(dim=1).item()

    return classify


@pytest.fixture(scope="session")
def test_data(transform):
    root = os.environ.get("FOOD11_DATA_DIR", "Food-11")
    folder = datasets.ImageFolder(os.path.join(root, "evaluation"), transform=transform)
    return DataLoader(folder, batch_size=32, shuffle=False)


@pytest.fixture(scope="session")
def predictions(model, device, test_data):
    """(true labels, predicted labels) over the whole evaluation split, as numpy arrays."""
    truth, guessed = [], []
    with torch.no_grad():
        for images, labels in test_data:
            scores = model(images.to(device))
            guessed.append(scores.argmax(dim=1).cpu().numpy())
            truth.append(labels.cpu().numpy())
    return np.concatenate(truth), np.concatenate(guessed)
