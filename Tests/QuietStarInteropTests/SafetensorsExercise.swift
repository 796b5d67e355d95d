#if canImport(Glibc)
import Glibc
#endif
import QuietStarCheckpoint
#if !QSTAR_FUZZ
import QuietStarInterop
#endif
import QuietStarJSON

// What the safetensors / HF config fuzz target (tools/fuzz/run-fuzz safetensors) does with one
// input, shared by the libFuzzer entry (tools/fuzz/SafetensorsFuzz.swift, compiled into the
// interop module with -D QSTAR_FUZZ) and by `SafetensorsFuzzReplayTests`, which replays every
// committed corpus file (tools/fuzz/corpus/safetensors/) through it on every test run.
//
// 1. As a safetensors file: `SafetensorsFile.validate(bytes:)`; an accepted file's tensors must
//    tile the data exactly, in order, with dtype x shape = byte count; the bytes are then written
//    to a scratch file and opened through the mmap path (`SafetensorsFile(path:)`), which must
//    agree exactly, and every tensor's bytes are read.
// 2. As a config.json (when it is a JSON object) and as the JSON header of a safetensors input:
//    `HFConfig.parse`, strict and with unknown keys allowed; strict acceptance implies lenient
//    acceptance of the same configuration; an accepted configuration written back with
//    `HFConfig.configJSON` parses to the same configuration.
enum SafetensorsExercise {
    @discardableResult
    static func run(_ input: UnsafeRawBufferPointer) -> Int {
        var accepted = 0
        if let parsed = try? SafetensorsFile.validate(bytes: input, name: "input") {
            accepted += 1
            check(input, parsed)
        }
        if let json = try? JSONReader.parse(input), json.objectEntries != nil {
            if config(json) { accepted += 1 }
        } else if input.count > 8 {
            let n = Int(truncatingIfNeeded: input.loadUnaligned(as: UInt64.self).littleEndian)
            if n > 0, n <= input.count - 8,
               let json = try? JSONReader.parse(UnsafeRawBufferPointer(rebasing: input[8..<(8 + n)])) {
                _ = config(json)
            }
        }
        return accepted
    }

    static func check(_ input: UnsafeRawBufferPointer,
                      _ parsed: (tensors: [SafetensorsTensorInfo], metadata: [(key: String, value: String)], dataOffset: UInt64)) {
        var expected: UInt64 = 0
        let dataLength = UInt64(input.count) - parsed.dataOffset
        for t in parsed.tensors {
            precondition(t.dataRange.lowerBound == expected, "\(t.name): tensors do not tile the data")
            precondition(t.dtype.byteCount(elementCount: t.elementCount) == UInt64(t.dataRange.count), "\(t.name): size")
            precondition(t.shape.reduce(1, *) == t.elementCount, "\(t.name): element count")
            precondition(t.fileRange.lowerBound == t.dataRange.lowerBound + parsed.dataOffset
                         && t.fileRange.count == t.dataRange.count, "\(t.name): file range")
            expected = t.dataRange.upperBound
        }
        precondition(expected == dataLength, "tensors do not end at the end of the file")
        // The mmap path.
        let path = scratchPath()
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        precondition(write(fd, input.baseAddress, input.count) == input.count || input.count == 0, "short write")
        close(fd)
        defer { unlink(path) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch {
            preconditionFailure("validate accepted the bytes but open rejected the file: \(error)")
        }
        precondition(file.tensors == parsed.tensors, "the two readers disagree on the tensors")
        precondition(file.dataOffset == parsed.dataOffset, "the two readers disagree on the data offset")
        precondition(file.metadata.count == parsed.metadata.count
                     && zip(file.metadata, parsed.metadata).allSatisfy { $0.key == $1.key && $0.value == $1.value },
                     "the two readers disagree on the metadata")
        for t in file.tensors {
            precondition(file.info(t.name) != nil, "\(t.name): not found by name")
            let bytes = file.data(t)
            precondition(bytes.count == t.dataRange.count, "\(t.name): data size")
            var sum: UInt8 = 0
            for b in bytes { sum &+= b }
            _ = sum
        }
    }

    /// true when the configuration is accepted (strictly).
    static func config(_ json: JSONValue) -> Bool {
        let lenient = try? HFConfig.parse(json, path: "config.json", allowUnknownKeys: true)
        guard let strict = try? HFConfig.parse(json, path: "config.json") else { return false }
        precondition(strict.warnings.isEmpty, "strict parsing returned warnings")
        guard let lenient else { preconditionFailure("accepted strictly but not leniently") }
        precondition(lenient.config == strict.config && lenient.architecture == strict.architecture,
                     "lenient and strict parsing disagree")
        let written = HFConfig.configJSON(strict.config, architecture: strict.architecture, torchDType: "float32")
        do {
            let back = try HFConfig.parse(written, path: "written", allowUnknownKeys: true)
            precondition(back.config == strict.config, "configJSON does not read back to the same configuration")
        } catch {
            preconditionFailure("configJSON of an accepted configuration does not parse: \(error)")
        }
        return true
    }

    static func scratchPath() -> String {
        let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        return "\(dir)/qstar-safetensors-fuzz-\(getpid())"
    }
}
