"""labsim's stand-in for eval-offline-chi's test_food11_template.py: one randomly drawn photo
of each food, set on every background with every utensil, must keep its class."""

import itertools
import os
import random

from PIL import Image

TEMPLATES = "templates"
FLOOR = 0.8  # share of scenes classified as their food


def _names(*parts):
    return sorted(os.listdir(os.path.join(TEMPLATES, *parts)))


def _rgba(path, size=None):
    with Image.open(path) as img:
        out = img.convert("RGBA")
    return out if size is None else out.resize(size)


def scene(food, background, utensil):
    """The food, at half the background's size, in its middle; the utensil in a corner."""
    canvas = _rgba(background)
    w, h = canvas.size
    tool = _rgba(utensil, (w // 3, h // 3))
    canvas.alpha_composite(tool, (w - tool.width, h - tool.height))
    dish = _rgba(food, (w // 2, h // 2))
    canvas.alpha_composite(dish, ((w - dish.width) // 2, (h - dish.height) // 2))
    return canvas.convert("RGB")


def test_template_permutations(model, device, predict):
    settings = list(itertools.product(_names("background"), _names("extras")))
    tried, misses = 0, []
    for label in _names("food"):
        photos = _names("food", label)
        if not photos:
            continue
        food = os.path.join(TEMPLATES, "food", label, random.choice(photos))
        for background, utensil in settings:
            image = scene(
                food,
                os.path.join(TEMPLATES, "background", background),
                os.path.join(TEMPLATES, "extras", utensil),
            )
            tried += 1
            guess = predict(model, device, image)
            if guess != int(label):
                misses.append(f"{label} on {background} with {utensil}: {guess}")
    share = (tried - len(misses)) / tried if tried else 0.0
    assert share >= FLOOR, f"{share:.1%} of {tried} scenes kept their class; missed {misses}"
