"""Training: losses on cascade outputs, the cached-feature trainer and full fine-tuning."""
