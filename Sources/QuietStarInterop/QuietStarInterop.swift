/// Formats people already have: safetensors, Hugging Face `config.json` / `tokenizer.json`, and
/// the published Quiet-STaR checkpoint layout.
public enum QuietStarInterop {}
