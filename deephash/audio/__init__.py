"""Audio codes: a fixed-length binary fingerprint of a video's sound track."""

from deephash.audio.fingerprint import AUDIO_RATE, audio_code, band_energies, decode_audio, hash_audio

__all__ = ["AUDIO_RATE", "audio_code", "band_energies", "decode_audio", "hash_audio"]
