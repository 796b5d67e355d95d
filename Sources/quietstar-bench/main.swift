import ArgumentParser

/// `quietstar-bench`: benchmarks as JSON lines on stdout (one object per measurement, a `machine`
/// line first), notes on stderr. Run through `tools/bench`, which builds in release mode and, with
/// no arguments, runs every subcommand listed here in order.
struct QuietStarBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-bench",
        abstract: "QuietStar benchmarks (JSON lines on stdout).",
        subcommands: [
            // One line per benchmark file; the machine baselines first.
            SgemmBench.self,
            KernelBench.self,
            EngineBench.self,
            ThoughtBench.self,
            TrainBench.self,
            TrainQuietStarBench.self,
            FormatBench.self,
            ListBenches.self,
        ])
}

/// `quietstar-bench list`: the benchmark subcommands, one per line (what `tools/bench` runs).
struct ListBenches: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Print the benchmark subcommands, one per line.", shouldDisplay: false)

    func run() {
        for command in QuietStarBench.configuration.subcommands where command != ListBenches.self {
            print(command._commandName)
        }
    }
}

QuietStarBench.main()
