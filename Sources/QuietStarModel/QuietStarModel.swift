/// The network: a LLaMA-family transformer read from a checkpoint (weights viewed in place, the
/// one `Transformer.step`, its activations and KV cache), the Quiet-STaR additions (thought
/// parameters, the mixing head, the thought layout and `ThoughtPass`), and the distributions it
/// defines with the samplers that draw from them. It knows rows and tokens, not lines of input:
/// the engine above (QuietStarEngine) and the trainer schedule work onto it.
public enum QuietStarModel {}
