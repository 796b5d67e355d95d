/// Tokenizers: the byte tokenizer for models trained here, and Hugging Face-compatible BPE
/// (ByteLevel pre-tokenization; Metaspace with byte fallback), id for id.
public enum QuietStarTokenizer {}
