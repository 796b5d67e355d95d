/// The small value types of the format: version, element types, encodings.

/// A `.qstar` format version. Majors are incompatible; a minor only adds things an older
/// reader can skip or refuse per tensor (see the spec, "Compatibility").
public struct FormatVersion: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16
    public init(major: UInt16, minor: UInt16) {
        self.major = major
        self.minor = minor
    }
    public var description: String { "\(major).\(minor)" }
}

/// Element types. Codes are stable forever; a newer minor may add codes.
public enum DType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, bf16 = 2, q8_0 = 3, i32 = 4, i64 = 5, u8 = 6

    public var name: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .q8_0: "q8_0"
        case .i32: "i32"
        case .i64: "i64"
        case .u8: "u8"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let d = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = d
    }

    /// Types that `TensorView.toFloat32` and `QStarWriter.addTensor(float32:)` convert.
    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0: true
        case .i32, .i64, .u8: false
        }
    }

    /// Bytes per element for the plain types; nil for the block-quantised q8_0.
    public var elementSize: Int? {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        case .u8: 1
        case .q8_0: nil
        }
    }

    /// The logical byte size of `elementCount` elements whose innermost dimension is
    /// `innermost`; nil when it overflows UInt64 or when q8_0's innermost dimension is not a
    /// positive multiple of 32 (q8_0 blocks never straddle rows).
    public func byteCount(elementCount: UInt64, innermost: UInt64) -> UInt64? {
        if let size = elementSize {
            let (bytes, overflow) = elementCount.multipliedReportingOverflow(by: UInt64(size))
            return overflow ? nil : bytes
        }
        let block = UInt64(DTypeCodec.q8BlockSize)
        guard innermost > 0, innermost % block == 0, elementCount % block == 0 else { return nil }
        let (bytes, overflow) = (elementCount / block).multipliedReportingOverflow(
            by: UInt64(DTypeCodec.q8BlockBytes))
        return overflow ? nil : bytes
    }
}

/// How a tensor's bytes are stored. Codes are stable forever; a newer minor may add codes.
public enum TensorEncoding: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// The logical bytes, 64-byte aligned: mapped zero-copy.
    case raw = 0
    /// One zstd frame that decodes to exactly the logical bytes.
    case zstd = 1

    public var name: String {
        switch self {
        case .raw: "raw"
        case .zstd: "zstd"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        switch name {
        case "raw": self = .raw
        case "zstd": self = .zstd
        default: return nil
        }
    }
}

/// One tensor's directory entry, as validated at open.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    /// nil when the file (of a newer minor) uses a dtype code this reader does not know.
    public let dtype: DType?
    public let dtypeCode: UInt32
    /// nil when the file (of a newer minor) uses an encoding code this reader does not know.
    public let encoding: TensorEncoding?
    public let encodingCode: UInt32
    /// Outermost first; `shape.last` is the contiguous dimension. Empty for a scalar.
    public let shape: [UInt64]
    /// Absolute file offset of the stored bytes.
    public let offset: UInt64
    public let storedLength: UInt64
    /// XXH64 (seed 0) of the stored bytes.
    public let checksum: UInt64
    public let elementCount: UInt64
    /// Size of the decoded bytes; nil when the dtype is unknown.
    public let logicalByteCount: UInt64?
    /// Where this tensor's directory entry starts (for messages).
    public let entryOffset: UInt64

    public init(name: String, dtype: DType?, dtypeCode: UInt32, encoding: TensorEncoding?,
                encodingCode: UInt32, shape: [UInt64], offset: UInt64, storedLength: UInt64,
                checksum: UInt64, elementCount: UInt64, logicalByteCount: UInt64?,
                entryOffset: UInt64) {
        self.name = name
        self.dtype = dtype
        self.dtypeCode = dtypeCode
        self.encoding = encoding
        self.encodingCode = encodingCode
        self.shape = shape
        self.offset = offset
        self.storedLength = storedLength
        self.checksum = checksum
        self.elementCount = elementCount
        self.logicalByteCount = logicalByteCount
        self.entryOffset = entryOffset
    }

    /// "f32" or, for a code this reader does not know, "dtype#9".
    public var dtypeName: String { dtype?.name ?? "dtype#\(dtypeCode)" }
    public var encodingName: String { encoding?.name ?? "encoding#\(encodingCode)" }
}

/// Hard limits of format 1.x. They bound every count before anything is allocated.
public enum QStarLimits {
    public static let headerSize = 64
    /// Raw tensor data alignment (and the alignment this writer uses for every blob).
    public static let alignment: UInt64 = 64
    public static let maxMetadataCount: UInt64 = 1 << 20
    public static let maxTensorCount: UInt64 = 1 << 24
    public static let maxRank = 8
    public static let maxKeyLength = 256
    public static let maxTensorNameLength = 1024
    public static let maxStringLength: UInt64 = 256 << 20
    public static let maxArrayCount: UInt64 = 1 << 28
    /// A zstd block of at least 4 stored bytes yields at most 128 KiB, so a frame can never
    /// expand more than 32768 times; a directory claiming more is rejected at open.
    public static let maxZstdExpansion: UInt64 = 32768
}
