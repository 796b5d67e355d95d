import ArgumentParser
import Foundation
import QuietStarFormat

/// `quietstar-bench format-open`: the claim behind the .qstar layout, in numbers.
///
/// 1. Opening (mmap + validation of header, index and directory) costs time independent of the
///    file's size: the data region is never read. Shown by files of 16 MiB, 256 MiB and 1 GiB
///    with the same tensor count (only tensor sizes differ), with page cache warm and cold.
/// 2. Resident memory does not grow by the file size when it is opened, only as tensors are
///    touched: RSS before open, after open, after reading one tensor, after reading all.
/// 3. `verifyAll()` (XXH64 over every stored byte) throughput, warm and cold.
///
/// A second family of files keeps 4 MiB tensors (so the tensor count grows with the size, as in
/// real checkpoints), and one file holds 16384 small tensors: opening is O(tensor count), and
/// these show what that costs. Files are streamed with `QStarWriter` into `--directory`
/// (default /tmp) one at a time and deleted right after their measurements.
struct FormatBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "format-open",
        abstract: "Checkpoint open/validate time and resident memory vs file size; verifyAll throughput.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Where the temporary checkpoints are written (they are deleted afterwards).")
    var directory: String = "/tmp"

    @Option(help: "Cold-cache repeats per file (each evicts the file from the page cache first).")
    var coldRepeats: Int = 7

    static let mib = 1 << 20

    /// One checkpoint shape to write and measure.
    struct Layout {
        var family: String
        var bytes: Int
        var tensorBytes: Int
        var tensors: Int { bytes / tensorBytes }
    }

    func run() throws {
        let minTime = options.apply()
        Machine.emitInfo(subcommand: "format-open")
        // verifyAll is one thread hashing mapped memory: its ceiling is one thread's read bandwidth.
        let read = Baseline.measureReadBandwidth(bytes: options.quick ? 16 * Self.mib : 256 * Self.mib, threads: 1,
                                                 minTime: minTime)
        BenchOutput.emit([("bench", "baseline"), ("read_gb_per_s_1_thread", .double(read))])
        let sizes = options.quick ? [16 * Self.mib, 64 * Self.mib] : [16 * Self.mib, 256 * Self.mib, 1024 * Self.mib]
        var layouts: [Layout] = []
        // Same tensor count (64) at every size: any growth in open time would come from bytes.
        for s in sizes { layouts.append(Layout(family: "64-tensors", bytes: s, tensorBytes: s / 64)) }
        // Real checkpoints: fixed-size tensors, so the count (and the index) grows with the file.
        for s in sizes { layouts.append(Layout(family: "4MiB-tensors", bytes: s, tensorBytes: 4 * Self.mib)) }
        // Many small tensors: the directory dominates.
        let small = options.quick ? 16 * Self.mib : 256 * Self.mib
        layouts.append(Layout(family: "16KiB-tensors", bytes: small, tensorBytes: 16 << 10))

        var results: [String: [Int: Result]] = [:]
        for layout in layouts {
            let needed = UInt64(layout.bytes) + UInt64(256 * Self.mib)
            let free = Self.freeBytes(directory)
            guard free >= needed else {
                BenchOutput.note("format-open: skipping \(layout.family) \(layout.bytes / Self.mib) MiB: "
                                 + "\(free / UInt64(Self.mib)) MiB free in \(directory), need \(needed / UInt64(Self.mib)) MiB")
                continue
            }
            let r = try measure(layout, minTime: minTime)
            results[layout.family, default: [:]][layout.bytes] = r
        }

        // The headline: how open cost and RSS scale from the smallest to the largest file.
        for family in ["64-tensors", "4MiB-tensors"] {
            guard let byFamily = results[family], let lo = sizes.first, let hi = sizes.last,
                  let a = byFamily[lo], let b = byFamily[hi] else { continue }
            BenchOutput.emit([
                ("bench", "format_open_scaling"), ("family", .string(family)),
                ("small_bytes", .int(lo)), ("large_bytes", .int(hi)),
                ("size_ratio", .double(Double(hi) / Double(lo))),
                ("tensor_count_ratio", .double(Double(b.tensors) / Double(a.tensors))),
                ("open_warm_ratio", .double(b.openWarm.median / a.openWarm.median)),
                ("open_cold_ratio", b.openCold.map { c in a.openCold.map { .double(c.median / $0.median) } ?? .string("n/a") } ?? .string("n/a")),
                ("rss_after_open_delta_mib_large", .double(b.rssOpenDelta)),
                ("rss_after_touch_all_delta_mib_large", .double(b.rssAllDelta)),
            ])
        }
    }

    struct Result {
        var tensors: Int
        var openWarm: Timing
        var openCold: Timing?
        var rssOpenDelta: Double
        var rssAllDelta: Double
    }

    // MARK: One file

    func measure(_ layout: Layout, minTime: Double) throws -> Result {
        let path = "\(directory)/quietstar-bench-\(getpid())-\(layout.family)-\(layout.bytes / Self.mib)MiB.qstar"
        defer { unlink(path) }

        let writeStart = Bench.now()
        try Self.write(layout, to: path)
        let writeSeconds = Bench.seconds(since: writeStart)
        let fileBytes = Self.fileSize(path)

        // Warm: the file was just written, so its index pages are in the page cache.
        let openWarm = Bench.measure(warmup: 3, minTime: minTime, minRepeats: 20) {
            withExtendedLifetime(try! QStarFile.open(path: path)) {}
        }
        let indexBytes = try QStarFile.open(path: path).header.indexLength

        // Cold: evict the file from the page cache before every open.
        var coldSamples: [Double] = []
        var residentAfterEvict = 1.0
        for _ in 0..<coldRepeats {
            guard Self.evict(path) else { break }
            residentAfterEvict = min(residentAfterEvict, Self.residentFraction(path))
            let t0 = Bench.now()
            withExtendedLifetime(try QStarFile.open(path: path)) {}
            coldSamples.append(Bench.seconds(since: t0))
        }
        let openCold = coldSamples.isEmpty ? nil : Timing(samples: coldSamples.sorted())

        // Resident memory, on a cold file: before open, after open, one tensor read, all read,
        // and after the file is released (its pages leave this process's RSS with the mapping).
        _ = Self.evict(path)
        let before = Memory.now()
        var afterOpen = before, afterOne = before, afterAll = before
        var sink: UInt64 = 0
        var verifyWarm: Timing?
        do {
            let file = try QStarFile.open(path: path)
            afterOpen = Memory.now()
            sink &+= try Self.touch(file.tensor(file.tensors[file.tensors.count / 2]))
            afterOne = Memory.now()
            for t in file.tensors { sink &+= try Self.touch(file.tensor(t)) }
            afterAll = Memory.now()
            // verifyAll with every page cached and mapped: hashing speed, not I/O.
            verifyWarm = Bench.measure(warmup: 1, minTime: minTime, minRepeats: 3) {
                precondition(file.verifyAll().isEmpty)
            }
        }
        let afterClose = Memory.now()
        if sink == 0x5EED { BenchOutput.note("") }  // keeps the reads observable

        // verifyAll on a cold file: a fresh open after eviction (pages still mapped by a live
        // QStarFile could not be evicted), so every byte comes from storage.
        var verifyColdSeconds: Double?
        var residentBeforeVerify = Double.nan
        if Self.evict(path) {
            residentBeforeVerify = Self.residentFraction(path)
            let t0 = Bench.now()
            let failures = try QStarFile.open(path: path).verifyAll()
            precondition(failures.isEmpty)
            verifyColdSeconds = Bench.seconds(since: t0)
        }

        let mibD = Double(Self.mib)
        let fields: [(String, BenchValue)] = [
            ("bench", "format_open"), ("family", .string(layout.family)),
            ("file_bytes", .int(Int(fileBytes))), ("file_mib", .double(Double(fileBytes) / mibD)),
            ("tensors", .int(layout.tensors)), ("tensor_bytes", .int(layout.tensorBytes)),
            ("index_bytes", .int(Int(indexBytes))),
            ("write_gb_per_s", .double(Double(fileBytes) / writeSeconds / 1e9)),
            ("open_warm_us_median", .double(openWarm.median * 1e6)), ("open_warm_us_best", .double(openWarm.best * 1e6)),
            ("open_warm_repeats", .int(openWarm.repeats)),
            ("open_cold_us_median", openCold.map { .double($0.median * 1e6) } ?? .string("n/a")),
            ("open_cold_repeats", .int(openCold?.repeats ?? 0)),
            ("resident_fraction_after_evict", .double(residentAfterEvict)),
            ("rss_before_mib", .double(before.rss / mibD)),
            ("rss_open_delta_mib", .double((afterOpen.rss - before.rss) / mibD)),
            ("rss_one_tensor_delta_mib", .double((afterOne.rss - before.rss) / mibD)),
            ("rss_all_tensors_delta_mib", .double((afterAll.rss - before.rss) / mibD)),
            ("rss_file_all_tensors_delta_mib", .double((afterAll.rssFile - before.rssFile) / mibD)),
            ("rss_anon_all_tensors_delta_mib", .double((afterAll.rssAnon - before.rssAnon) / mibD)),
            ("rss_after_close_delta_mib", .double((afterClose.rss - before.rss) / mibD)),
            ("verify_warm_gb_per_s", .double(Double(fileBytes) / verifyWarm!.median / 1e9)),
            ("verify_cold_gb_per_s", verifyColdSeconds.map { .double(Double(fileBytes) / $0 / 1e9) } ?? .string("n/a")),
            ("resident_fraction_before_cold_verify", .double(residentBeforeVerify)),
        ]
        BenchOutput.emit(fields)
        BenchOutput.note("format-open: \(layout.family) \(layout.bytes / Self.mib) MiB (\(layout.tensors) tensors): open "
                         + "\(Self.us(openWarm.median)) warm, \(openCold.map { Self.us($0.median) } ?? "n/a") cold; RSS +"
                         + "\(Self.mibText(afterOpen.rss - before.rss)) after open, +\(Self.mibText(afterOne.rss - before.rss)) "
                         + "after one tensor, +\(Self.mibText(afterAll.rss - before.rss)) after all")
        return Result(tensors: layout.tensors, openWarm: openWarm, openCold: openCold,
                      rssOpenDelta: (afterOpen.rss - before.rss) / mibD, rssAllDelta: (afterAll.rss - before.rss) / mibD)
    }

    static func us(_ s: Double) -> String { String(format: "%.1f us", s * 1e6) }
    static func mibText(_ b: Double) -> String { String(format: "%.1f MiB", b / Double(mib)) }

    // MARK: Writing

    /// Streams `layout` through QStarWriter in 1 MiB appends of fixed pseudo-random f32 data.
    static func write(_ layout: Layout, to path: String) throws {
        let chunkFloats = min(layout.tensorBytes, mib) / 4
        let chunk = BenchBuffer<Float>(random: chunkFloats, seed: 11)
        let bytes = UnsafeRawBufferPointer(start: chunk.pointer, count: chunkFloats * 4)
        let elements = layout.tensorBytes / 4
        let cols = min(elements, 1024)
        let w = try QStarWriter(path: path)
        for i in 0..<layout.tensors {
            try w.beginTensor(name: "blk.\(i).weight", dtype: .f32, shape: [elements / cols, cols])
            for _ in 0..<(layout.tensorBytes / bytes.count) { try w.append(bytes) }
            try w.endTensor()
        }
        try w.finish(metadata: Metadata([("general.name", .string("format-open benchmark")),
                                         ("general.architecture", .string("none"))]))
    }

    /// Reads one byte per 4 KiB page (what faults the page in) and returns their sum.
    static func touch(_ view: TensorView) -> UInt64 {
        var sum: UInt64 = 0
        var i = 0
        while i < view.bytes.count {
            sum &+= UInt64(view.bytes[i])
            i += 4096
        }
        return sum
    }

    // MARK: System

    /// Drops the file's pages from the page cache (they are clean: the writer fsynced).
    static func evict(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) == 0
    }

    /// The fraction of the file's pages in the page cache (mincore on a fresh mapping), to
    /// confirm that the cold measurements really were cold.
    static func residentFraction(_ path: String) -> Double {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return .nan }
        defer { close(fd) }
        let size = Int(fileSize(path))
        guard size > 0, let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return .nan }
        defer { munmap(p, size) }
        let pages = (size + 4095) / 4096
        var vec = [UInt8](repeating: 0, count: pages)
        guard mincore(p, size, &vec) == 0 else { return .nan }
        return Double(vec.reduce(0) { $0 + Int($1 & 1) }) / Double(pages)
    }

    static func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    static func freeBytes(_ directory: String) -> UInt64 {
        var s = statvfs()
        guard statvfs(directory, &s) == 0 else { return 0 }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }
}

/// Resident set size from /proc/self/status, split into anonymous and file-backed pages (a
/// mapped checkpoint's touched pages are file-backed: RssFile).
struct Memory {
    var rss: Double
    var rssAnon: Double
    var rssFile: Double

    static func now() -> Memory {
        var m = Memory(rss: 0, rssAnon: 0, rssFile: 0)
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return m }
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Double(parts[1]) else { continue }
            switch parts[0] {
            case "VmRSS:": m.rss = kb * 1024
            case "RssAnon:": m.rssAnon = kb * 1024
            case "RssFile:": m.rssFile = kb * 1024
            default: break
            }
        }
        return m
    }
}
