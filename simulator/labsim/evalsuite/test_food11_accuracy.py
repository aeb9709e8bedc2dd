"""labsim's stand-in for eval-offline-chi's test_food11_accuracy.py: accuracy on Food-11's
evaluation split, overall and class by class."""

import numpy as np

CLASSES = 11
OVERALL_FLOOR = 85  # percent, exceeded
CLASS_FLOOR = 75  # percent, reached by every class


def test_overall_accuracy(predictions):
    labels, predicted = predictions
    accuracy = 100 * float(np.mean(predicted == labels))
    assert accuracy > OVERALL_FLOOR, f"overall accuracy {accuracy:.2f}%, not above {OVERALL_FLOOR}%"


def test_per_class_accuracy(predictions):
    labels, predicted = predictions
    short = []
    for cls in range(CLASSES):
        mine = labels == cls
        accuracy = 100 * float(np.mean(predicted[mine] == cls)) if mine.any() else 0.0
        if accuracy < CLASS_FLOOR:
            short.append(f"class {cls} at {accuracy:.2f}%")
    assert not short, f"below {CLASS_FLOOR}% per class: {', '.join(short)}"
