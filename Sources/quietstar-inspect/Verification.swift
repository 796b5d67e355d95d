import Foundation
import QuietStarCLI
import QuietStarFormat
import QuietStarJSON

/// `--verify`: every tensor's XXH64 over its stored bytes, and for zstd tensors a full decode
/// (the frame must produce exactly the logical size). Reads the whole data region once.
enum Verification {
    struct Damage {
        var tensor: TensorInfo
        var error: QStarError
    }

    struct Result {
        var checked: Int
        var bytes: UInt64
        var seconds: Double
        var damaged: [Damage]
        /// Tensors of a newer minor's encoding (or a zstd tensor of a newer minor's dtype, whose
        /// logical size is unknown): checksummed, but their decoding is not checked.
        var undecodable: [TensorInfo]

        var json: JSONValue {
            .object([
                ("ok", .bool(damaged.isEmpty)),
                ("checked_tensors", .integer(checked)),
                ("checked_bytes", .integer(bytes)),
                ("damaged", .array(damaged.map { d in
                    .object([("name", .string(d.tensor.name)), ("offset", .integer(d.tensor.offset)),
                             ("stored_bytes", .integer(d.tensor.storedLength)),
                             ("kind", .string(d.error.kind == .checksumMismatch ? "checksum" : "decode")),
                             ("message", .string(d.error.message))])
                })),
                ("not_decoded", .array(undecodable.map { .string($0.name) })),
            ])
        }

        /// One line per damaged tensor, then a one-line verdict.
        var lines: [String] {
            var out = damaged.map { d in
                "DAMAGED \(DisplayEscaping.escape(d.tensor.name)) at byte \(d.tensor.offset) "
                    + "(\(d.tensor.storedLength) bytes): \(DisplayEscaping.escape(d.error.message))"
            }
            for t in undecodable {
                out.append("note: \(DisplayEscaping.escape(t.name)) uses \(t.dtypeName) / \(t.encodingName), which this "
                           + "reader cannot decode; only its checksum was checked")
            }
            let rate = seconds >= 0.001 ? ", \(Human.fixed(Double(bytes) / seconds / 1e9, digits: 2)) GB/s" : ""
            let scope = "\(Human.plural(checked, "tensor")), \(Human.bytes(bytes)) in \(Human.fixed(seconds, digits: 3)) s\(rate)"
            if damaged.isEmpty {
                out.append("ok: all checksums match (\(scope))")
            } else {
                out.append("FAILED: \(damaged.count) of \(checked) tensors damaged (\(scope))")
            }
            return out
        }
    }

    static func run(_ file: QStarFile) -> Result {
        let progress = ProgressLine()
        let total = file.tensors.reduce(UInt64(0)) { $0 + $1.storedLength }
        let start = DispatchTime.now().uptimeNanoseconds
        var done: UInt64 = 0
        var damaged: [Damage] = []
        var undecodable: [TensorInfo] = []
        for (i, t) in file.tensors.enumerated() {
            progress.update("verifying \(i + 1)/\(file.tensors.count): \(Human.bytes(done)) of \(Human.bytes(total))")
            do {
                try file.verify(t)
                if t.encoding == nil || (t.encoding == .zstd && t.dtype == nil) { undecodable.append(t) }
            } catch {
                damaged.append(Damage(tensor: t, error: error))
            }
            done += t.storedLength
        }
        progress.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Result(checked: file.tensors.count, bytes: total, seconds: seconds, damaged: damaged,
                      undecodable: undecodable)
    }
}
