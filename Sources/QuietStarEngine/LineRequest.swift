import QuietStarModel

/// One input line handed to the generator or scorer.
///
/// `line` is the line's 0-based index in the whole input (before any sharding): it seeds the
/// line's random generator, so a line draws the same numbers however the input is split. `tag`
/// travels with the line untouched (the CLI keeps the JSONL `id` there). `text` is the line's
/// text, or why the line could not be read (invalid UTF-8, bad JSON): such a line still gets its
/// place in the output, as a failure.
public struct LineRequest<Tag> {
    public var line: Int
    public var tag: Tag
    public var text: Result<String, LineError>

    public init(line: Int, tag: Tag, text: Result<String, LineError>) {
        self.line = line
        self.tag = tag
        self.text = text
    }
}

/// Why one line produced no result. The rest of the input goes on.
public struct LineError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The outcome of one line, delivered in input order.
public struct LineOutcome<Tag, Value> {
    public var line: Int
    public var tag: Tag
    public var result: Result<Value, LineError>
}
