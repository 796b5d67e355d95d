/// Tokenizers: the byte tokenizer for models trained here, and Hugging Face-compatible BPE
/// (ByteLevel pre-tokenization; Metaspace with byte fallback), id for id.
///
/// Pipeline of `Tokenizer.encode`, in the order Hugging Face `tokenizers` runs it:
///
///     text -> split out added tokens that match the raw text            (AddedTokens.swift)
///          -> normalize every other segment (NFC, legacy "▁" prefix)    (Normalization.swift)
///          -> split out added tokens that match the normalized text
///          -> pre-tokenize into words (split regexes, Metaspace)        (PreTokenization.swift)
///          -> BPE each word (cached), byte fallback, unknown token      (BytePairEncoding.swift)
///          -> BOS/EOS                                                    (Tokenizer.swift)
///
/// What a tokenizer is, as data, is `TokenizerSpec` (TokenizerSpec.swift); it is read from a
/// Hugging Face `tokenizer.json` (TokenizerSpec+HuggingFace.swift) or from `.qstar` metadata
/// (TokenizerMetadata.swift, whose keys the format spec refers to).
public enum QuietStarTokenizer {}
