/// Tokenizers: the byte tokenizer for models trained here, and Hugging Face-compatible BPE
/// (ByteLevel pre-tokenization; Metaspace with byte fallback), id for id.
///
/// What a tokenizer is, as data, is `TokenizerSpec` (TokenizerSpec.swift, validated by
/// TokenizerSpec+Validation.swift). It is read from a Hugging Face `tokenizer.json`
/// (TokenizerSpec+HuggingFace.swift, through QuietStarJSON's byte-exact reader) or from
/// `.qstar` metadata (TokenizerMetadata.swift, whose keys the format spec refers to).
/// `Tokenizer` (Tokenizer.swift) compiles a spec into tables and runs the pipeline of Hugging
/// Face `tokenizers`, in its order:
///
///     text -> split out added tokens that match the raw text            (AddedTokens.swift)
///          -> normalize every other segment (NFC, legacy "▁" prefix)    (Normalization.swift)
///          -> split out added tokens that match the normalized text
///          -> pre-tokenize into words (split regexes, Metaspace)        (PreTokenization.swift)
///          -> BPE each word (cached), byte fallback, unknown token      (BytePairEncoding.swift)
///          -> BOS/EOS                                                    (Encoding.swift)
///
/// and back: `decode`, `decodeBytes`, `StreamingDecoder`, `tokenText` (Decoding.swift).
/// Token strings are compared by their bytes throughout (`ExactString`, from QuietStarJSON):
/// Swift's String equality would merge distinct tokens such as "é" and "e\u{301}".
public enum QuietStarTokenizer {}
