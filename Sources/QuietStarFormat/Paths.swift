/// Path arithmetic on strings, POSIX style, for the few places that need the directory or the
/// name part of a path (a temporary file next to its destination, a directory to fsync, a
/// folder name as a model name). Trailing slashes are ignored: `a/b/` names `b`.
public enum Paths {
    /// `a/b/c.qstar` -> `a/b`; `c.qstar` -> `.`; `/c` -> `/`; `a/b/` -> `a`.
    public static func parent(of path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// `a/b/c.qstar` -> `c.qstar`; `a/b/` -> `b`; `c` -> `c`.
    public static func baseName(of path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// `a/b` + `c` -> `a/b/c` (one slash between them).
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func trimmingTrailingSlashes(_ path: String) -> Substring {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
