import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs one of the package's executables and reports its own peak resident set size.
///
/// The peak is the child's `VmHWM` (its address space's high-water mark), sampled from
/// `/proc/<pid>/status` every 5 ms until it exits. `ru_maxrss` cannot be used: `posix_spawn`
/// starts the child on the test process's address space (vfork), and Linux folds that one's
/// high-water mark into the child's `ru_maxrss` at exec, so it reports the test process's peak.
/// The last sample is at most 5 ms before the child's address space goes away: a streaming run
/// reaches its plateau long before it ends, and the bounds asserted are generous.
struct MeasuredRun {
    var status: Int32
    /// Peak resident set size of the child, in MiB (`VmHWM`).
    var peakMiB: Double
    var stdout: String
    var stderr: String
}

extension CLI {
    /// Runs `tool` with `arguments`, stdin from /dev/null, stdout and stderr to files in `dir`.
    static func runMeasured(_ tool: String, _ arguments: [String], in dir: URL) throws -> MeasuredRun {
        let outPath = dir.appendingPathComponent("\(tool).stdout").path
        let errPath = dir.appendingPathComponent("\(tool).stderr").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let executable = productsDirectory.appendingPathComponent(tool).path
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: executable]) }
        var status: Int32 = 0
        var peakKiB = 0
        while true {
            if let hwm = highWaterMarkKiB(pid) { peakKiB = max(peakKiB, hwm) }
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0 && errno != EINTR { break }
            usleep(5_000)
        }
        // Exit status as the shell sees it (128 + signal for a killed child).
        let exit = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return MeasuredRun(status: exit, peakMiB: Double(peakKiB) / 1024,
                           stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                           stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// `VmHWM` of a running process in KiB; nil once it has exited (a zombie has no memory lines).
    static func highWaterMarkKiB(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }
}
