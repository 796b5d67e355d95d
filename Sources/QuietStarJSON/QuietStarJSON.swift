/// Strict JSON reading and deterministic JSON writing, shared by every module that touches JSON
/// (Hugging Face config and tokenizer files, safetensors headers, JSONL input and output, reports).
///
///     bytes --JSONReader--> JSONValue --JSONWriter--> bytes
///
/// - `JSONValue` (JSONValue.swift): a document as plain data. Objects keep their members in
///   document order, numbers keep their literal text (`JSONNumber`, JSONNumber.swift) until a
///   caller asks for a type, and strings and keys compare by their UTF-8 bytes (`ExactString`,
///   ExactString.swift): Swift's `String ==` is canonical equivalence, which would merge the
///   distinct vocabulary tokens "é" and "e\u{301}".
/// - `JSONReader` (JSONReader.swift): RFC 8259 exactly, nothing more; invalid UTF-8, raw control
///   characters and unpaired surrogate escapes rejected; depth, size and duplicate-key policies;
///   every error carries the byte offset (and line and column) of the offending byte.
/// - `JSONWriter` (JSONWriter.swift): keys in the order given, numbers as their text (shortest
///   round-trip for doubles), control characters and noncharacters escaped; compact (JSONL
///   records, safetensors headers) or pretty (Python's `json.dumps(indent=2)`); appends to a byte
///   buffer so records can be streamed.
///
/// Why not Foundation's `JSONSerialization`: it keeps the last of duplicate keys silently, turns
/// every number into a `Double`-backed `NSNumber` (a u64 byte offset above 2^53 loses bits),
/// merges canonically equivalent keys in its dictionaries, and reports no byte offsets.
public enum QuietStarJSON {}
