/// The `.qstar` checkpoint container (spec: `formats/qstar-v1.md`).
///
/// This module knows about bytes, dtypes, metadata and tensors, and nothing about transformers:
/// the model, tokenizer and converter layers give the names and metadata keys their meaning.
public enum QuietStarFormat {}
