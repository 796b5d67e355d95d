import CZstd

/// zstd through the system libzstd: one frame per tensor.
///
/// Decoding never trusts the frame for the allocation size: the output buffer is exactly the
/// logical size from the directory (itself bounded at open by the 32768x expansion limit), a
/// frame that declares a different content size is refused before anything is allocated, and
/// the decoder reports both too little and too much output.
enum Zstd {
    static let frameMagic: UInt32 = 0xFD2F_B528
    static let contentSizeUnknown: UInt64 = UInt64.max
    static let contentSizeError: UInt64 = UInt64.max - 1
    /// `ZSTD_error_dstSize_tooSmall` from zstd_errors.h (codes below 100 are stable), which the
    /// CZstd shim does not include. Error results are `0 - code`.
    static let errorDstSizeTooSmall = 70

    static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }

    /// Checks the frame header against the logical size before anything is allocated for it:
    /// one frame, the magic, a declared content size (when present) equal to `logicalSize`, and no
    /// bytes after the frame. A hostile frame is thus rejected for what it is, never by a failed
    /// allocation. Errors are thrown without path/field; the caller adds them.
    static func checkFrame(_ src: UnsafeRawBufferPointer, logicalSize: Int) throws(QStarError) {
        guard src.count >= 4, let s = src.baseAddress else {
            throw QStarError(.invalid, "zstd data is \(src.count) bytes, too short for a frame")
        }
        let magic = UInt32(littleEndian: s.loadUnaligned(as: UInt32.self))
        if magic != frameMagic {
            throw QStarError(.invalid, "stored bytes do not start with a zstd frame (magic 0x\(String(magic, radix: 16)))")
        }
        let declared = ZSTD_getFrameContentSize(s, src.count)
        if declared == contentSizeError {
            throw QStarError(.invalid, "zstd frame header is invalid")
        }
        if declared != contentSizeUnknown && declared != UInt64(logicalSize) {
            throw QStarError(.invalid, "zstd frame declares \(declared) bytes of content but the tensor's logical size is \(logicalSize)")
        }
        let frameSize = ZSTD_findFrameCompressedSize(s, src.count)
        if ZSTD_isError(frameSize) != 0 {
            throw QStarError(.invalid, "zstd frame is damaged or truncated (\(errorName(frameSize)))")
        }
        if frameSize != src.count {
            throw QStarError(.invalid, "\(src.count - frameSize) bytes follow the zstd frame (a tensor is exactly one frame)")
        }
    }

    /// Decodes the single frame in `src` into `dst`, which has exactly the logical size.
    /// Errors are thrown without path/field; the caller adds them.
    static func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer)
        throws(QStarError)
    {
        try checkFrame(src, logicalSize: dst.count)
        guard let s = src.baseAddress else { return }
        guard let dctx = ZSTD_createDCtx() else { throw QStarError(.io, "cannot allocate a zstd decoder") }
        defer { ZSTD_freeDCtx(dctx) }
        // Single pass: the destination is the window, so no window buffer is allocated whatever
        // window size a hostile frame asks for.
        let produced = ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, s, src.count)
        if ZSTD_isError(produced) != 0 {
            if 0 &- produced == errorDstSizeTooSmall {
                throw QStarError(.invalid, "zstd frame decodes to more than the tensor's logical size \(dst.count)")
            }
            throw QStarError(.invalid, "zstd decoding failed: \(errorName(produced))")
        }
        if produced != dst.count {
            throw QStarError(.invalid, "zstd frame decodes to \(produced) bytes, short of the tensor's logical size \(dst.count)")
        }
    }

    /// A streaming compressor producing one frame with the content size declared up front.
    final class Compressor {
        private let cctx: OpaquePointer
        private var out: [UInt8]

        /// `declareContentSize: false` exists for tests that craft frames without a size.
        init(level: Int32, contentSize: UInt64, declareContentSize: Bool = true) throws(QStarError) {
            guard let c = ZSTD_createCCtx() else { throw QStarError(.io, "cannot allocate a zstd compressor") }
            cctx = c
            out = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
            try check(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level))
            try check(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, declareContentSize ? 1 : 0))
            // Integrity is the directory's XXH64 over the stored bytes; no second checksum.
            try check(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0))
            try check(ZSTD_CCtx_setPledgedSrcSize(c, contentSize))
        }

        deinit { ZSTD_freeCCtx(cctx) }

        /// One-shot convenience: the whole frame for `input`.
        static func frame(_ input: UnsafeRawBufferPointer, level: Int32 = 3,
                          declareContentSize: Bool = true) throws(QStarError) -> [UInt8] {
            let c = try Compressor(level: level, contentSize: UInt64(input.count),
                                   declareContentSize: declareContentSize)
            var out: [UInt8] = []
            try c.compress(input, end: true) { out.append(contentsOf: $0) }
            return out
        }

        private func check(_ r: Int) throws(QStarError) {
            if ZSTD_isError(r) != 0 { throw QStarError(.io, "zstd: \(Compressor.name(r))") }
        }

        private static func name(_ r: Int) -> String { String(cString: ZSTD_getErrorName(r)) }

        /// Feeds `input`; `sink` receives compressed bytes as they are produced.
        func compress(_ input: UnsafeRawBufferPointer, end: Bool,
                      sink: (UnsafeRawBufferPointer) throws(QStarError) -> Void) throws(QStarError) {
            var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            let mode = end ? ZSTD_e_end : ZSTD_e_continue
            while true {
                var produced = 0
                var remaining = 0
                let cctx = self.cctx
                out.withUnsafeMutableBytes { o in
                    var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
                    remaining = ZSTD_compressStream2(cctx, &outBuf, &inBuf, mode)
                    produced = outBuf.pos
                }
                try check(remaining)
                if produced > 0 {
                    try withBytes(out) { (o) throws(QStarError) in
                        try sink(UnsafeRawBufferPointer(rebasing: o[0..<produced]))
                    }
                }
                if end ? remaining == 0 : inBuf.pos == inBuf.size { return }
            }
        }
    }
}
