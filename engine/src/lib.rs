//! GGUF, tokenizers, models.
