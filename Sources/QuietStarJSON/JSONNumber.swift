/// A JSON number kept as its literal text, which always matches the RFC 8259 grammar
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
///
/// Converting at parse time would have to pick one type for every number: a `Double` loses the
/// low bits of a u64 byte offset, an `Int64` cannot hold `1e-06`, and
/// `1000000000000000019884624838656` (`model_max_length` in many `tokenizer_config.json` files)
/// fits neither as an integer. The text is exact; each caller asks for the type it needs and gets
/// nil when the number is not of that type. Two numbers are equal when their texts are: `1.0`
/// and `1` are different documents.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal, e.g. `-2.5e3`.
    public let text: String

    /// The number written as `text`, or nil when `text` is not exactly one JSON number.
    public init?(_ text: String) {
        var copy = text
        let valid = copy.withUTF8 { (utf8) -> Bool in
            let bytes = UnsafeRawBufferPointer(utf8)
            guard case .success(let end) = Self.scan(bytes, from: 0) else { return false }
            return end == bytes.count
        }
        guard valid else { return nil }
        self.text = text
    }

    /// Text the caller has already matched against the grammar (the reader).
    init(validated text: String) { self.text = text }

    /// An integer, in decimal.
    public init<T: BinaryInteger>(_ value: T) { text = String(value) }

    /// The shortest text that reads back as exactly `value` (`1e-06`, `10000.0`, `0.1`; what
    /// Python's `repr` writes too), or nil for NaN and infinities, which JSON cannot hold.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        text = Self.withFraction(value.description)
    }

    /// The shortest text that reads back as exactly `value` as a `Float` (`0.1`, not
    /// `0.10000000149011612`), or nil when it is not finite.
    public init?(_ value: Float) {
        guard value.isFinite else { return nil }
        text = Self.withFraction(value.description)
    }

    /// Swift prints integral floating-point values below 2^53 as `10000.0` and larger ones as
    /// `1e+16`; the suffix keeps any other integral form recognisably a float.
    private static func withFraction(_ s: String) -> String {
        s.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") } ? s : s + ".0"
    }

    public var description: String { text }

    /// Written without fraction or exponent (`4096`, not `4096.0` or `4.096e3`).
    public var isInteger: Bool {
        !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The value as an unsigned integer when it is an integer literal that fits in 64 bits.
    /// `4096.0` gives nil: a count written as a float is a bug in whatever wrote it, and we would
    /// rather say so than guess.
    public var uint64: UInt64? { isInteger ? UInt64(text) : nil }

    /// The value as a signed integer literal that fits in 64 bits.
    public var int64: Int64? { isInteger ? Int64(text) : nil }

    /// Any number as the nearest `Double` (integers included); nil when it overflows to infinity.
    public var double: Double? {
        guard let v = Double(text), v.isFinite else { return nil }
        return v
    }

    // MARK: Grammar

    enum ScanResult {
        /// The offset just past the number.
        case success(Int)
        /// The offset of the offending byte and what was expected there.
        case failure(Int, String)
    }

    /// Matches the number grammar starting at `start` (which holds `-` or a digit); stops at the
    /// first byte that cannot continue the number. A leading zero ends the integer part, so
    /// `01` scans as `0` followed by `1`, which the caller then rejects as trailing text.
    static func scan(_ bytes: UnsafeRawBufferPointer, from start: Int) -> ScanResult {
        var i = start
        func isDigit(_ at: Int) -> Bool { at < bytes.count && bytes[at] &- 0x30 < 10 }
        func digits() { while isDigit(i) { i += 1 } }
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { return .failure(i, "expected a digit") }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else { digits() }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { return .failure(i, "expected a digit after the decimal point") }
            digits()
        }
        if i < bytes.count && (bytes[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            guard isDigit(i) else { return .failure(i, "expected a digit in the exponent") }
            digits()
        }
        return .success(i)
    }
}
