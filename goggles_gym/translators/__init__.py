"""Translators (real -> sim): CycleGAN and VR-Goggles (CycleGAN + semantic + shift losses).

``load(path)`` turns a translator file into a callable from uint8 real frames to uint8 sim frames.
"""

from goggles_gym.translators.config import METHODS, TranslatorTrainConfig
from goggles_gym.translators.io import Translator, TranslatorFileError, load, save_translator

__all__ = ["METHODS", "Translator", "TranslatorFileError", "TranslatorTrainConfig", "load", "save_translator"]
