import Foundation
import QuietStarSTaR
import Testing

@Suite struct STaROptionsTests {
    @Test func stepsGrowPerIteration() {
        var o = STaROptions()
        #expect((1...3).map { o.steps(iteration: $0) } == [300, 320, 340], "the paper's arithmetic schedule")
        o.steps = 40
        o.stepsGrowth = 20
        o.stepsGrowthPercent = true
        #expect((1...4).map { o.steps(iteration: $0) } == [40, 48, 58, 69], "x1.2 per iteration, rounded")
    }

    @Test func promptsAndHints() {
        var o = STaROptions()
        o.fewShot = "EXAMPLES\n\n"
        #expect(o.prompt("1 + 2") == "EXAMPLES\n\nInput:\n1 + 2\nTarget:\n")
        #expect(o.trainingPrompt("1 + 2") == "Input:\n1 + 2\nTarget:\n", "few-shot examples are never trained on")
        #expect(o.hintPrompt("1 + 2", answer: "3") == "EXAMPLES\n\nInput:\n1 + 2\nTarget: 3\n")
        o.hintFewShot = ""
        #expect(o.hintPrompt("1 + 2", answer: "3") == "Input:\n1 + 2\nTarget: 3\n")
    }

    @Test func optionsRoundTripAndValidate() throws {
        var o = STaROptions()
        o.base = "m.qstar"
        o.train = "t.jsonl"
        o.stop = ["\n\n", "END"]
        o.answer = AnswerMatching(extraction: .regex, pattern: "= *([0-9]+)", normalization: .nospace)
        try o.validate()
        #expect(try STaROptions.parse(Data(o.json().utf8), path: "star.json") == o)
        var bad = o
        bad.hintTemplate = "no answer here {question}"
        #expect(throws: (any Error).self) { try bad.validate() }
        bad = o
        bad.training.learningRate = -1
        #expect(throws: (any Error).self) { try bad.validate() }
    }
}
