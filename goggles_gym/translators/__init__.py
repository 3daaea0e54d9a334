"""Translators (real -> sim): CycleGAN and VR-Goggles. Arriving with the translator issue."""
