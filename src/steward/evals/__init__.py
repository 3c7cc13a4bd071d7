"""Evaluation: scored question files run through the answer path."""
