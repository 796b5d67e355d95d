/// Strict JSON reading and deterministic JSON writing, shared by every module that touches JSON
/// (Hugging Face config and tokenizer files, JSONL input and output, reports).
public enum QuietStarJSON {}
