/// The names a training checkpoint adds (spec 12.5 and 12.6): where training stands (`train.*`),
/// the optimiser's per-parameter state (`optimizer.*` tensors) and where the weights came from
/// (`provenance.*`). A weights-only model carries none of the `train.*` keys or `optimizer.*`
/// tensors; `quietstar-run` ignores them when present.
public enum TrainingState {
    /// `train.step`: optimisation steps taken, the step to resume from.
    public static let stepKey = "train.step"
    /// `train.rng_state`: the trainer's random generator state (four u64 words).
    public static let rngStateKey = "train.rng_state"
    /// `train.data_position`: where the data loader stands (four u64 words: epoch, file, byte
    /// offset of the record, tokens of it consumed).
    public static let dataPositionKey = "train.data_position"
    /// `train.optimizer`: `"adamw"` or `"sgd"`.
    public static let optimizerKey = "train.optimizer"
    /// `train.adamw.*` hyper-parameters (f64), in this order: beta1, beta2, eps, weight decay.
    public static let adamWKeys = ["train.adamw.beta1", "train.adamw.beta2", "train.adamw.eps",
                                   "train.adamw.weight_decay"]
    /// `train.options`: the run's options as JSON (the trainer's schema), what `--resume` rebuilds from.
    public static let optionsKey = "train.options"

    /// Metadata namespaces that describe training rather than the model.
    public static let metadataPrefixes = ["train.", "optimizer."]
    /// Every optimiser tensor starts with this.
    public static let optimizerTensorPrefix = "optimizer."

    /// AdamW's first and second moments of the parameter `parameter` (f32, its shape).
    public static func adamWFirstMoment(of parameter: String) -> String { "optimizer.adamw.m.\(parameter)" }
    public static func adamWSecondMoment(of parameter: String) -> String { "optimizer.adamw.v.\(parameter)" }

    /// A parameter trained in other units than the file stores it (Quiet-STaR's thought
    /// embeddings: the file holds `scale x` the trained value), in the trained units, so a resumed
    /// run continues from the exact bits (`x * 100 / 100` is not always `x` in float32).
    public static func trainedValue(of parameter: String) -> String { "optimizer.trained.\(parameter)" }

    public static let provenanceCreatorKey = "provenance.creator"
    public static let provenanceCreatorVersionKey = "provenance.creator_version"
    public static let provenanceSourceKey = "provenance.source"
    public static let provenanceSourceConfigDigestKey = "provenance.source_config_digest"
    public static let provenanceTrainingStepKey = "provenance.training_step"
    public static let provenanceDataDigestKey = "provenance.data_digest"
}
