"""labsim's stand-in for eval-offline-chi's test_food11_test_cases.py: two folders of hard
cases (foods dressed up as cakes, Indian sweets) that the model should call Dessert."""

import os

from PIL import Image

DESSERT = 2  # Food-11's class index
FLOOR = 60  # percent of a folder predicted Dessert


def dessert_share(model, device, predict, folder):
    names = sorted(os.listdir(folder))
    hits = 0
    for name in names:
        with Image.open(os.path.join(folder, name)) as img:
            hits += predict(model, device, img.convert("RGB")) == DESSERT
    return 100 * hits / len(names) if names else 0.0


def test_cake_looks_like_accuracy(model, device, predict):
    share = dessert_share(model, device, predict, "cake_looks_like")
    assert share >= FLOOR, f"cake_looks_like: {share:.2f}% called Dessert, under {FLOOR}%"


def test_indian_dessert_accuracy(model, device, predict):
    share = dessert_share(model, device, predict, "indian_dessert")
    assert share >= FLOOR, f"indian_dessert: {share:.2f}% called Dessert, under {FLOOR}%"
