"""Distillation: turn victim answers into targets, and train a student on them."""
