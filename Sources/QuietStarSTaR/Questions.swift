import Foundation
import QuietStarJSON
import QuietStarTraining

/// One question of a STaR data file: `{"id", "question", "answer"}` with an optional
/// `"category"` (a string or number, e.g. the digit count) for per-category accuracy.
public struct STaRQuestion: Sendable, Equatable {
    /// The `id` as written (the 1-based line number when absent), echoed into the kept examples.
    public var id: JSONValue
    public var question: String
    public var answer: String
    /// The category's text ("" when absent).
    public var category: String

    public init(id: JSONValue, question: String, answer: String, category: String = "") {
        self.id = id
        self.question = question
        self.answer = answer
        self.category = category
    }

    /// Every question of `path` (blank lines skipped). A bad line stops the run with its line
    /// number: a STaR data set with holes would make every accuracy silently wrong.
    public static func read(_ path: String) throws(TrainingError) -> [STaRQuestion] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): cannot read this question file", kind: .missingInput)
        }
        var out: [STaRQuestion] = []
        var lineNumber = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var bytes = line[...]
            if bytes.last == 0x0D { bytes = bytes.dropLast() }
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let value: JSONValue
            do { value = try JSONReader.parse(Array(bytes)) } catch {
                throw TrainingError("\(path): line \(lineNumber): not a JSON object: \(error)")
            }
            guard let question = value["question"]?.stringValue, let answer = value["answer"]?.stringValue else {
                throw TrainingError("\(path): line \(lineNumber): expected string members \"question\" and \"answer\"")
            }
            let category: String
            switch value["category"] {
            case nil, .null?: category = ""
            case .string(let s)?: category = s
            case .number(let n)?: category = n.text
            default: throw TrainingError("\(path): line \(lineNumber): \"category\" must be a string or a number")
            }
            out.append(STaRQuestion(id: value["id"] ?? .integer(lineNumber), question: question, answer: answer,
                                    category: category))
        }
        guard !out.isEmpty else { throw TrainingError("\(path): no questions") }
        return out
    }
}

/// Correct answers per category, and over everything.
public struct Accuracy: Sendable, Equatable {
    public private(set) var counts: [String: (correct: Int, total: Int)] = [:]
    public private(set) var correct = 0
    public private(set) var total = 0

    public init() {}

    public mutating func add(category: String, correct ok: Bool) {
        var c = counts[category] ?? (0, 0)
        c.total += 1
        if ok { c.correct += 1 }
        counts[category] = c
        total += 1
        if ok { correct += 1 }
    }

    public var overall: Double { total > 0 ? Double(correct) / Double(total) : .nan }

    /// `{"all": x, "<category>": x, ...}`, categories in numeric order when they are numbers.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("all", .double(overall))]
        let keys = counts.keys.filter { !$0.isEmpty }.sorted { a, b in
            if let x = Double(a), let y = Double(b) { return x < y }
            return a < b
        }
        for k in keys { members.append((k, .double(Double(counts[k]!.correct) / Double(counts[k]!.total)))) }
        return .object(members)
    }

    public static func == (a: Accuracy, b: Accuracy) -> Bool {
        a.correct == b.correct && a.total == b.total && a.counts.keys == b.counts.keys
            && a.counts.allSatisfy { b.counts[$0.key]! == $0.value }
    }
}
