"""The demo project: a small shop whose every change is recorded (``python -m example_project``)."""
