import Foundation

/// Logs and progress go to stderr, data to stdout: these helpers keep that rule in one place.
public enum StandardError {
    /// Whether stderr is a terminal: progress bars are drawn only then.
    public static let isTerminal: Bool = isatty(STDERR_FILENO) != 0

    /// Writes one line to stderr (a newline is added).
    public static func line(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Writes a `tool: message` diagnostic line to stderr.
    public static func report(_ tool: String, _ message: String) {
        line("\(tool): \(message)")
    }
}

/// A progress line redrawn in place on stderr, at most a few times a second, and only when stderr
/// is a terminal; in pipelines and CI it stays silent.
public final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var lastDraw: UInt64 = 0
    private var drawn = false

    public init(enabled: Bool = StandardError.isTerminal) { self.enabled = enabled }

    /// Redraws the line with `text` if at least 100 ms have passed since the last redraw.
    public func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock(); defer { lock.unlock() }
        guard now &- lastDraw >= 100_000_000 || !drawn else { return }
        lastDraw = now
        drawn = true
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text()).utf8))
    }

    /// Clears the line so the next stderr output starts clean.
    public func finish() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}
