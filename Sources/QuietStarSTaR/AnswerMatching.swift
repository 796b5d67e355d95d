import Foundation
import QuietStarTraining

/// How a final answer is read out of a generated rationale, and when two answers are the same.
///
/// STaR keeps a rationale only when its answer equals the gold one; the reference compares
/// strings after the task's own extraction, so extraction and normalisation are part of the task
/// definition (and of the run's saved options).
public struct AnswerMatching: Codable, Sendable, Equatable {
    public enum Extraction: String, Codable, Sendable, CaseIterable {
        /// The last non-empty line of the completion.
        case lastLine = "last-line"
        /// The text after the last occurrence of `pattern`, up to the end of that line.
        case after
        /// The first capture group (or the whole match, without groups) of the last match of
        /// the regular expression `pattern`.
        case regex
    }

    public enum Normalization: String, Codable, Sendable, CaseIterable {
        /// Trim, and collapse runs of white space to one space.
        case whitespace
        /// Remove all white space (`8 8 3` equals `883`).
        case nospace
        /// Compare the extracted text as it is.
        case exact
    }

    public var extraction: Extraction = .lastLine
    public var pattern = ""
    public var normalization: Normalization = .whitespace

    public init(extraction: Extraction = .lastLine, pattern: String = "", normalization: Normalization = .whitespace) {
        self.extraction = extraction
        self.pattern = pattern
        self.normalization = normalization
    }

    /// Checks the pattern once, before a run (a bad regular expression is a usage error).
    public func validate() throws(TrainingError) {
        switch extraction {
        case .lastLine: break
        case .after: guard !pattern.isEmpty else { throw TrainingError("the answer marker must not be empty", kind: .usage) }
        case .regex:
            do { _ = try NSRegularExpression(pattern: pattern) } catch {
                throw TrainingError("the answer pattern \(pattern) is not a valid regular expression", kind: .usage)
            }
        }
    }

    /// The normalised answer of a completion; nil when it has none (no marker, no match).
    public func answer(in completion: String) -> String? {
        let raw: Substring?
        switch extraction {
        case .lastLine:
            raw = completion.split(separator: "\n", omittingEmptySubsequences: true)
                .last { !$0.allSatisfy(\.isWhitespace) }
        case .after:
            guard let r = completion.range(of: pattern, options: .backwards) else { return nil }
            raw = completion[r.upperBound...].split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first
        case .regex:
            guard let re = try? NSRegularExpression(pattern: pattern) else { return nil }
            let ns = completion as NSString
            guard let m = re.matches(in: completion, range: NSRange(location: 0, length: ns.length)).last else { return nil }
            let range = m.numberOfRanges > 1 && m.range(at: 1).location != NSNotFound ? m.range(at: 1) : m.range
            raw = Substring(ns.substring(with: range))
        }
        guard let raw else { return nil }
        let answer = normalize(String(raw))
        return answer.isEmpty ? nil : answer
    }

    public func normalize(_ text: String) -> String {
        switch normalization {
        case .whitespace: text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        case .nospace: String(text.filter { !$0.isWhitespace })
        case .exact: text
        }
    }

    /// Whether `completion` reaches `gold`.
    public func isCorrect(_ completion: String, gold: String) -> Bool {
        answer(in: completion) == normalize(gold)
    }
}
