/// The LLaMA-family transformer read from a checkpoint, its KV cache, the mixing head, and
/// thought-augmented scoring and generation.
public enum QuietStarModel {}
