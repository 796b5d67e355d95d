import QuietStarModel

/// One n-digit addition problem and the scratchpad the STaR paper trains on (after Nye et al.,
/// "Show your work"). Digits are separated by spaces so every digit is its own token in any
/// tokenizer; each scratchpad line consumes the rightmost remaining digit pair and shows the
/// digits of the sum found so far and the carry. For `624 + 259`:
///
///     <scratch>
///     6 2 4 + 2 5 9 , C: 0
///     6 2 + 2 5 , 3 C: 1
///     6 + 2 , 8 3 C: 0
///     , 8 8 3 C: 0
///     0 8 8 3
///     </scratch>
///     8 8 3
public struct AdditionProblem: Sendable, Equatable, Hashable {
    public let a: Int
    public let b: Int
    /// Digits of each operand (both have exactly this many; 1-digit operands include 0).
    public let digits: Int

    public init(a: Int, b: Int, digits: Int) {
        self.a = a
        self.b = b
        self.digits = digits
    }

    /// `6 2 4 + 2 5 9`.
    public var question: String { spaced(a, width: digits) + " + " + spaced(b, width: digits) }

    /// The sum's digits separated by spaces (`8 8 3`; one more digit when the last column carries).
    public var answer: String { spaced(a + b, width: 1) }

    /// The scratchpad lines between `<scratch>` and `</scratch>`.
    public var scratchLines: [String] {
        let x = Array(String(a).leftPadded(to: digits)), y = Array(String(b).leftPadded(to: digits))
        var lines: [String] = []
        var partial: [Character] = [], carry = 0
        for consumed in 0...digits {
            let left = digits - consumed
            var line = left > 0 ? x[..<left].map(String.init).joined(separator: " ") + " + "
                + y[..<left].map(String.init).joined(separator: " ") + " " : ""
            line += ", " + (partial.isEmpty ? "" : partial.map(String.init).joined(separator: " ") + " ") + "C: \(carry)"
            lines.append(line)
            if left > 0 {
                let s = Int(String(x[left - 1]))! + Int(String(y[left - 1]))! + carry
                partial.insert(Character(String(s % 10)), at: 0)
                carry = s / 10
            }
        }
        lines.append(([String(carry)] + partial.map(String.init)).joined(separator: " "))
        return lines
    }

    /// The worked target: scratchpad, then the answer.
    public var scratchpad: String {
        "<scratch>\n" + scratchLines.joined(separator: "\n") + "\n</scratch>\n" + answer
    }

    private func spaced(_ n: Int, width: Int) -> String {
        String(n).leftPadded(to: width).map(String.init).joined(separator: " ")
    }

    /// The number of distinct problems with `digits`-digit operands.
    public static func count(digits: Int) -> Int {
        let span = digits == 1 ? 10 : 9 * power10(digits - 1)
        return span * span
    }

    /// Problem `index` of the `digits`-digit ones, in a fixed order (`0 ..< count(digits:)`).
    public init(digits: Int, index: Int) {
        let low = digits == 1 ? 0 : Self.power10(digits - 1)
        let span = digits == 1 ? 10 : 9 * Self.power10(digits - 1)
        self.init(a: low + index / span, b: low + index % span, digits: digits)
    }

    static func power10(_ e: Int) -> Int { (0..<e).reduce(1) { r, _ in r * 10 } }

    /// Distinct problems of each digit count in `digits`, `perDigit` of each (or all there are,
    /// when fewer), drawn without replacement from a generator seeded by `(seed, digit count)`,
    /// skipping `excluded` ones (a held-out set). Same arguments, same problems, same order.
    public static func sample(digits: ClosedRange<Int>, perDigit: Int, seed: UInt64,
                              excluding excluded: Set<AdditionProblem> = []) -> [AdditionProblem] {
        sample(digits: digits, counts: Array(repeating: perDigit, count: digits.count), seed: seed, excluding: excluded)
    }

    /// As `sample(digits:perDigit:)`, with `counts[i]` problems of digit count `digits.lowerBound + i`.
    public static func sample(digits: ClosedRange<Int>, counts: [Int], seed: UInt64,
                              excluding excluded: Set<AdditionProblem> = []) -> [AdditionProblem] {
        precondition(counts.count == digits.count, "one count per digit count")
        var out: [AdditionProblem] = []
        for (n, perDigit) in zip(digits, counts) {
            var random = LineRandom(seed: seed, line: UInt64(n))
            let total = count(digits: n)
            let available = total - excluded.filter { $0.digits == n }.count
            let want = min(perDigit, available)
            if 2 * want >= total {
                // Dense: shuffle every index (Fisher-Yates) and take the first allowed ones.
                var indices = Array(0..<total)
                random.shuffle(&indices)
                out += indices.lazy.map { AdditionProblem(digits: n, index: $0) }.filter { !excluded.contains($0) }.prefix(want)
            } else {
                // Sparse: rejection sampling, cheap when the space is at least twice the draw.
                var seen = Set<Int>()
                while seen.count < want {
                    let i = Int(random.next() % UInt64(total))
                    let p = AdditionProblem(digits: n, index: i)
                    if excluded.contains(p) || !seen.insert(i).inserted { continue }
                    out.append(p)
                }
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension AdditionProblem {
    /// Reads a question back (`6 2 4 + 2 5 9`, spaces optional); nil for anything else.
    public init?(question: String) {
        let sides = question.filter { !$0.isWhitespace }.split(separator: "+", omittingEmptySubsequences: false)
        guard sides.count == 2, sides[0].count == sides[1].count, (1...15).contains(sides[0].count),
              sides.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let a = Int(sides[0]), let b = Int(sides[1]) else { return nil }
        let n = sides[0].count
        guard n == 1 || (sides[0].first != "0" && sides[1].first != "0") else { return nil }
        self.init(a: a, b: b, digits: n)
    }
}
