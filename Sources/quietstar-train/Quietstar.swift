import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarTokenizer
import QuietStarTraining

struct Quietstar: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar",
        abstract: "Quiet-STaR training: the model learns to think before every token.",
        discussion: """
        Starts from a plain model or a Quiet-STaR checkpoint. A tokenizer without \
        <|startthought|> and <|endthought|> (the byte tokenizer has them) gets them as two added \
        tokens after its vocabulary, the model two zero rows of embedding and LM head. A plain \
        model gets thought embeddings (the mean input embedding of --thought-init's tokens, trained \
        divided by --embedding-scale) and a mixing head (three layers, ReLU, last layer zero: \
        w starts at 0, so the mixed prediction starts as the base one).

        Each step, per sequence, every position t (except the last) gets --passes thoughts \
        sampled by the model itself: START, --thought-tokens content tokens, END, then \
        --lookahead - 1 true next tokens (teacher forcing). Talk step m (0 ..< --lookahead) \
        mixes the stream's state with the base state at t+m, w = head([h_base; h_stream]), \
        and predicts token t+m+1 from (1-w) h_base + w h_stream. The loss is the reference's \
        (ezelikman/quiet-star): --base-weight x base NLL + (1 - --base-weight) x mixed NLL \
        (mean over talk steps) + --policy-weight x REINFORCE on the content tokens' \
        log-probs at --policy-temperature, with advantage max(0, reward - mean over passes) \
        and reward the sum over talk steps of log p_mix - log p_base. Reference names: \
        n_ahead = thought tokens + 3, n_ahead_talk = lookahead, n_passes = passes, \
        original_loss_weight = base weight, policy_loss_beta = policy weight, \
        reinforce_temperature = policy temperature.

        Text data: each document piece of a window is one sequence (--delimiter '\\n' makes \
        every line one). The checkpoint runs in quietstar-run --thoughts as it is and \
        exports with quietstar-convert to-hf in the published Quiet-STaR layout.
        """)

    @Option(name: .long, help: ArgumentHelp("The model to start from.", valueName: "path"))
    var from: String?
    @Option(name: .long, help: "Content tokens per thought [reference: n_ahead - 3 = 9].")
    var thoughtTokens = 9
    @Option(name: .long, help: "True tokens scored after each thought [n_ahead_talk].")
    var lookahead = 4
    @Option(name: .long, help: "Thoughts per position; the reward's baseline is their mean [n_passes].")
    var thoughtsPerPosition = 2
    @Option(name: .long, help: "Temperature of the policy log-probs [reinforce_temperature].")
    var policyTemperature = 3.0
    @Option(name: .long, help: "Weight of the REINFORCE term [policy_loss_beta].")
    var policyWeight = 1e6
    @Option(name: .long, help: "Weight of the base NLL; the mixed NLL gets 1 minus it [original_loss_weight].")
    var baseWeight = 0.5
    @Option(name: .long, help: "Thought embeddings are trained divided by this [the reference's 100].")
    var embeddingScale = 100.0
    @Option(name: .long, help: "Temperature of the sampled content tokens.")
    var thoughtTemperature = 1.0
    @Option(name: .long, help: "The string whose tokens' mean embedding starts both thought embeddings.")
    var thoughtInit = "---"
    @Option(name: .long, help: "all: train everything; thoughts: only the thought embeddings and the mixing head.")
    var train: TrainArgument = .all

    enum TrainArgument: String, ExpressibleByArgument, CaseIterable { case all, thoughts }

    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var optimisation: OptimisationFlags
    @OptionGroup var runFlags: RunFlags

    func run() throws {
        try runTraining(runFlags, build: { () throws -> (Trainer, TrainingRun) in
            guard let from else { throw ValidationError("give --from MODEL (or --resume DIR)") }
            var (o, directory) = try trainingOptions(dataFlags, optimisation, runFlags)
            o.objective = "quietstar"
            o.train = train.rawValue
            o.quietStar.thoughtTokens = thoughtTokens
            o.quietStar.lookahead = lookahead
            o.quietStar.passes = thoughtsPerPosition
            o.quietStar.policyTemperature = policyTemperature
            o.quietStar.policyWeight = policyWeight
            o.quietStar.baseWeight = baseWeight
            o.quietStar.embeddingScale = embeddingScale
            o.quietStar.thoughtTemperature = thoughtTemperature
            let file = try TrainingCheckpoint.open(from)
            let (config, tokenizer) = try TrainingCheckpoint.model(file, path: from)
            let (parameters, _, setupMetadata, thinkingTokenizer) = try QuietStarSetup.parameters(
                file: file, config: config, tokenizer: tokenizer, hyper: o.quietStar, initialString: thoughtInit, seed: o.seed)
            var metadata = setupMetadata
            metadata[TrainingState.provenanceSourceKey] = .string(from)
            return (try Trainer(options: o, parameters: parameters, tokenizer: thinkingTokenizer, metadata: metadata), directory)
        })
    }
}
