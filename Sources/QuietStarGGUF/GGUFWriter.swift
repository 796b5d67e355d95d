import QuietStarFormat

/// Writes a GGUF v3 file (little-endian) front to back: the header, metadata and tensor table
/// first (every offset is known from the shapes and types given up front), then each tensor's
/// bytes in table order, each padded to the alignment. The file is assembled under a temporary
/// name and renamed into place by `finish()` (`AtomicOutputFile`), so a failed export leaves
/// nothing at `path`; the bytes appended for each tensor are counted against its declared size.
public final class GGUFWriter {
    /// One tensor to be written: `dims` in GGUF order (innermost first).
    public struct Tensor: Sendable {
        public var name: String
        public var dims: [UInt64]
        public var type: GGMLType
        public init(name: String, dims: [UInt64], type: GGMLType) {
            self.name = name
            self.dims = dims
            self.type = type
        }

        var byteCount: UInt64? {
            guard let first = dims.first, let row = type.rowBytes(first) else { return nil }
            var n = row
            for d in dims.dropFirst() {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                if o { return nil }
                n = p
            }
            return n
        }
    }

    public let path: String
    private let file: AtomicOutputFile
    private let tensors: [Tensor]
    private let sizes: [UInt64]
    private let alignment: UInt64
    private var current = -1
    private var written: UInt64 = 0

    public init(path: String, metadata: [(key: String, value: GGUFValue)], tensors: [Tensor],
                alignment: UInt64 = GGUFLimits.defaultAlignment) throws(GGUFError) {
        self.path = path
        self.tensors = tensors
        self.alignment = alignment
        var sizes: [UInt64] = []
        for (i, t) in tensors.enumerated() {
            guard !t.dims.isEmpty, t.dims.count <= Int(GGUFLimits.maxDims), t.dims.allSatisfy({ $0 > 0 }), let n = t.byteCount else {
                throw GGUFError(.invalid, path: path, field: "tensors[\(i):\(t.name)]", "dims \(t.dims) cannot be stored as \(t.type.name)")
            }
            sizes.append(n)
        }
        self.sizes = sizes
        var header: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); header += s.utf8 }
        func value(_ v: GGUFValue) {
            switch v {
            case let .uint8(x): header.append(x)
            case let .int8(x): header.append(UInt8(bitPattern: x))
            case let .uint16(x): withUnsafeBytes(of: x.littleEndian) { header += $0 }
            case let .int16(x): withUnsafeBytes(of: x.littleEndian) { header += $0 }
            case let .uint32(x): u32(x)
            case let .int32(x): u32(UInt32(bitPattern: x))
            case let .uint64(x): u64(x)
            case let .int64(x): u64(UInt64(bitPattern: x))
            case let .float32(x): u32(x.bitPattern)
            case let .float64(x): u64(x.bitPattern)
            case let .bool(x): header.append(x ? 1 : 0)
            case let .string(s): string(s)
            case let .array(type, items):
                u32(type.rawValue)
                u64(UInt64(items.count))
                for item in items { value(item) }
            }
        }
        header += Array("GGUF".utf8)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count) + (alignment == GGUFLimits.defaultAlignment ? 0 : 1))
        for (key, v) in metadata {
            if case let .array(type, items) = v, items.contains(where: { $0.type != type }) {
                throw GGUFError(.invalid, path: path, field: key, "array elements are not all \(type)")
            }
            string(key)
            u32(v.type.rawValue)
            value(v)
        }
        if alignment != GGUFLimits.defaultAlignment {
            string("general.alignment"); u32(GGUFValueType.uint32.rawValue); u32(UInt32(alignment))
        }
        var offset: UInt64 = 0
        for (t, size) in zip(tensors, sizes) {
            string(t.name)
            u32(UInt32(t.dims.count))
            for d in t.dims { u64(d) }
            u32(t.type.rawValue)
            u64(offset)
            offset += Self.padded(size, alignment)
        }
        header += [UInt8](repeating: 0, count: Int(Self.padded(UInt64(header.count), alignment)) - header.count)
        do {
            file = try AtomicOutputFile(destination: path)
            try file.write(header)
        } catch {
            throw GGUFError(.io, path: path, error.message)
        }
    }

    static func padded(_ n: UInt64, _ alignment: UInt64) -> UInt64 { (n + alignment - 1) / alignment * alignment }

    /// Starts the next tensor of the table (they are written in table order).
    public func beginTensor(_ name: String) throws(GGUFError) {
        guard current + 1 < tensors.count, tensors[current + 1].name == name else {
            throw GGUFError(.invalid, path: path, field: name, "tensors must be written in table order")
        }
        current += 1
        written = 0
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(GGUFError) {
        guard current >= 0, written + UInt64(bytes.count) <= sizes[current] else {
            throw GGUFError(.invalid, path: path, field: current >= 0 ? tensors[current].name : nil, "more bytes than the tensor holds")
        }
        do { try file.write(bytes) } catch { throw GGUFError(.io, path: path, error.message) }
        written += UInt64(bytes.count)
    }

    public func endTensor() throws(GGUFError) {
        guard current >= 0, written == sizes[current] else {
            throw GGUFError(.invalid, path: path, field: current >= 0 ? tensors[current].name : nil,
                            "\(written) bytes written, \(current >= 0 ? sizes[current] : 0) declared")
        }
        do { try file.write(zeros: Int(Self.padded(written, alignment) - written)) } catch { throw GGUFError(.io, path: path, error.message) }
    }

    /// Renames the finished file into place; every tensor must have been written.
    public func finish() throws(GGUFError) {
        guard current == tensors.count - 1 else {
            throw GGUFError(.invalid, path: path, "\(current + 1) of \(tensors.count) tensors written")
        }
        do { try file.commit() } catch { throw GGUFError(.io, path: path, error.message) }
    }

    /// Removes the temporary file.
    public func abort() { file.abort() }
}
