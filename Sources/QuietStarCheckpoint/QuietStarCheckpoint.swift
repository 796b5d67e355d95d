/// The checkpoint conventions of `formats/qstar-v1.md` section 12 in one place: what the names
/// in a `.qstar` file mean for a LLaMA-family model.
///
/// - `ModelConfig`: the `general.*` and `llama.*` hyperparameters, read (validated once) and
///   written by the same type; Hugging Face `config.json` maps onto it in Interop.
/// - `TensorNames`: every tensor name with the shape the configuration implies.
/// - `QuietStarSettings`: the `quietstar.*` keys of a thought-augmented model.
/// - `TrainingState`: the `train.*`, `optimizer.*` and `provenance.*` names of training checkpoints.
///
/// The container below (QuietStarFormat) knows nothing of transformers; the network above
/// (QuietStarModel) and the converters beside it (QuietStarInterop) spell no key themselves.
public enum QuietStarCheckpoint {}
