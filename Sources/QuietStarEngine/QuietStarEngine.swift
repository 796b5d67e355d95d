/// The serving engine: input lines in, results out, many lines batched through one transformer.
///
/// `LineIntake` and `LineScheduler` admit lines into KV-cache slots as they free up (continuous
/// batching) and deliver outcomes in input order; `Generator` and `Scorer` run plain lines on
/// them, `ThoughtGenerator` and `ThoughtScorer` run lines with a thought before every token
/// through the network's `ThoughtPass`. Everything about rows, weights and the distributions
/// the network defines lives below, in QuietStarModel; everything about lines lives here.
public enum QuietStarEngine {}
