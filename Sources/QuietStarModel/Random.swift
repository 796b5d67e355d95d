/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator used here only to expand seeds.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018): the generator behind every random draw of a line.
///
/// Each input line gets its own generator seeded from `(seed, line index)`, so what a line draws
/// depends on nothing else: not the batch it shares, the thread count, the order lines finish in,
/// or which shard of the input a process runs.
public struct LineRandom: Sendable, Equatable {
    public private(set) var s0, s1, s2, s3: UInt64

    /// The generator of line `line` (0-based index in the whole input) under user seed `seed`.
    public init(seed: UInt64, line: UInt64) {
        // Two rounds of SplitMix64 decorrelate neighbouring seeds and lines before the four state
        // words are drawn; the odd constant keeps (seed 0, line 0) away from the all-zero state.
        var mix = SplitMix64(state: seed)
        var sm = SplitMix64(state: mix.next() ^ (line &* 0xD1B5_4A32_D192_ED03 &+ 0x632B_E59B_D9B4_E019))
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// A generator resumed from a saved state (`s0...s3`, as a training checkpoint stores it).
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "LineRandom: a state is four words, not all zero")
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
    }

    /// The four state words (`init(state:)` resumes from them).
    public var state: [UInt64] { [s0, s1, s2, s3] }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Shuffles `elements` in place (Fisher-Yates from the back, one draw per position), so a
    /// seeded generator always gives the same order.
    public mutating func shuffle<T>(_ elements: inout [T]) {
        for i in stride(from: elements.count - 1, to: 0, by: -1) {
            elements.swapAt(i, Int(next() % UInt64(i + 1)))
        }
    }
}
