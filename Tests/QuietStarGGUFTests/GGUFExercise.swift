#if !GGUF_FUZZ
import QuietStarGGUF
#endif

// What the GGUF reader's fuzz target does with one input, shared by the libFuzzer entry
// (tools/fuzz/GGUFFuzz.swift, compiled into the GGUF module with -D GGUF_FUZZ) and by
// `GGUFFuzzReplayTests`, which replays every file of tools/fuzz/corpus-gguf/ on every test run.
// A file the reader accepts must keep every promise the converter relies on: each tensor's
// bytes inside the file, aligned, not overlapping another, its size what its type and dims
// imply; every metadata value readable; every tensor decodable. A trap or a broken promise is
// a finding (only public API is used).
enum GGUFExercise {
    /// Runs the checks on `input` (a failed check traps); returns whether the reader accepted it.
    @discardableResult
    static func run(_ input: UnsafeRawBufferPointer) -> Bool {
        guard let layout = try? GGUFLayout.parse(input) else { return false }
        let size = UInt64(input.count)
        precondition(layout.version == 2 || layout.version == 3)
        precondition(layout.dataOffset % layout.alignment == 0)
        var ends: [(UInt64, UInt64)] = []
        for t in layout.tensors {
            precondition(layout.tensor(t.name) == t, "tensor lookup disagrees with the table")
            precondition(!t.dims.isEmpty && t.dims.count <= 4 && t.dims.allSatisfy { $0 > 0 })
            precondition(t.elementCount == t.dims.reduce(1, *))
            precondition(t.byteCount == t.type.rowBytes(t.dims[0])! * (t.elementCount / t.dims[0]))
            precondition(t.offset >= layout.dataOffset && t.offset <= size && t.byteCount <= size - t.offset, "\(t.name) outside the file")
            precondition((t.offset - layout.dataOffset) % layout.alignment == 0)
            ends.append((t.offset, t.offset + t.byteCount))
        }
        ends.sort { $0.0 < $1.0 }
        for (a, b) in zip(ends, ends.dropFirst()) { precondition(a.1 <= b.0, "tensors overlap") }
        for (key, value) in layout.metadata {
            // By type, not ==: a NaN value is not equal to itself.
            precondition(layout[key]?.type == value.type)
            _ = (value.unsignedValue, value.doubleValue, value.stringValue, value.boolValue, value.arrayValue?.count)
        }
        // Decode every tensor (bounded: the bytes are inside a fuzz input of at most 64 KiB).
        for t in layout.tensors {
            let n = Int(t.elementCount)
            let bytes = UnsafeRawBufferPointer(rebasing: input[Int(t.offset)..<Int(t.offset + t.byteCount)])
            let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
            defer { out.deallocate() }
            Dequantize.run(t.type, bytes, count: n, into: out)
        }
        return true
    }
}
