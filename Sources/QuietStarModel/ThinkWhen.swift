/// Where to think: adaptive thinking.
///
/// Quiet-STaR as published thinks after every token, so every token costs `k + 2` forward steps
/// whether the model needed the thought or not. A policy here decides, position by position and
/// before any thought runs, from the base distribution alone (what the model predicts without
/// thinking, never the token that follows), so the same rule serves scoring and generation.
/// Where it says no, the position keeps its base prediction exactly: `w = 0`, `h_mix = h_base`.
/// The decision reads one row of logits, so it is the same whatever the batch, thread count or
/// shard; `docs/results.md` has the measured cost/quality curve behind the rules offered.
public enum ThinkWhen: Sendable, Equatable, CustomStringConvertible {
    /// Every position (the published algorithm).
    case always
    /// No position: the plain model, through the thought engine (a baseline, and a check).
    case never
    /// Where the base distribution's entropy is at least this many nats: the model is unsure.
    case entropyAtLeast(Float)
    /// Where the entropy is in `low ..< high`: unsure, but not guessing blindly. On the default
    /// model this band holds most of what thinking gains (docs/results.md): at near-uniform
    /// positions a thought does not help either.
    case entropyBetween(Float, Float)
    /// Where the base distribution's largest probability is below this.
    case topProbabilityBelow(Float)

    /// Parses `always`, `never`, `entropy:H` (nats, H >= 0), `entropy:L..H` (0 <= L < H) or
    /// `top-prob:P` (0 < P <= 1).
    public init?(_ text: String) {
        switch text {
        case "always": self = .always
        case "never": self = .never
        default:
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            if parts[0] == "entropy", let dots = parts[1].range(of: "..") {
                guard let low = Float(parts[1][..<dots.lowerBound]), let high = Float(parts[1][dots.upperBound...]),
                      low.isFinite, high.isFinite, low >= 0, low < high else { return nil }
                self = .entropyBetween(low, high)
                return
            }
            guard let value = Float(parts[1]), value.isFinite else { return nil }
            switch parts[0] {
            case "entropy" where value >= 0: self = .entropyAtLeast(value)
            case "top-prob" where value > 0 && value <= 1: self = .topProbabilityBelow(value)
            default: return nil
            }
        }
    }

    public var description: String {
        switch self {
        case .always: return "always"
        case .never: return "never"
        case .entropyAtLeast(let h): return "entropy:\(h)"
        case .entropyBetween(let l, let h): return "entropy:\(l)..\(h)"
        case .topProbabilityBelow(let p): return "top-prob:\(p)"
        }
    }

    /// Whether the rule reads the base distribution (so the base logits of every position that may
    /// think must be computed first).
    public var readsBaseDistribution: Bool {
        switch self {
        case .always, .never: return false
        case .entropyAtLeast, .entropyBetween, .topProbabilityBelow: return true
        }
    }

    /// Whether to think at a position whose base distribution has this entropy (nats) and largest
    /// probability (`Confidence.row`).
    public func thinks(entropy: Float, top: Float) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .entropyAtLeast(let h): return entropy >= h
        case .entropyBetween(let l, let h): return entropy >= l && entropy < h
        case .topProbabilityBelow(let p): return top < p
        }
    }
}
