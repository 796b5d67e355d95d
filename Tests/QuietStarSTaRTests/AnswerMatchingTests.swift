import QuietStarSTaR
import QuietStarJSON
import Testing

@Suite struct AnswerMatchingTests {
    @Test func lastLineIsTheDefault() {
        let m = AnswerMatching()
        #expect(m.answer(in: "<scratch>\n, 8 6 C: 0\n0 8 6\n</scratch>\n8  6 \n") == "8 6")
        #expect(m.isCorrect("<scratch>\n0 8 6\n</scratch>\n8 6", gold: " 8 6"))
        #expect(!m.isCorrect("<scratch>\n0 8 6\n</scratch>\n8 7", gold: "8 6"))
        #expect(m.answer(in: "\n \n") == nil)
    }

    @Test func markerAndRegex() throws {
        let after = AnswerMatching(extraction: .after, pattern: "The answer is", normalization: .whitespace)
        #expect(after.answer(in: "so... The answer is 12.\nThe answer is  (b) \nmore") == "(b)")
        #expect(after.answer(in: "no marker") == nil)
        let re = AnswerMatching(extraction: .regex, pattern: "#### *([0-9]+)", normalization: .exact)
        #expect(re.answer(in: "a #### 3\nb #### 42") == "42")
        let whole = AnswerMatching(extraction: .regex, pattern: "[0-9]+", normalization: .exact)
        #expect(whole.answer(in: "x 7 y 19") == "19")
        #expect(throws: (any Error).self) { try AnswerMatching(extraction: .regex, pattern: "(", normalization: .exact).validate() }
        #expect(throws: (any Error).self) { try AnswerMatching(extraction: .after, pattern: "").validate() }
    }

    @Test func normalizations() {
        #expect(AnswerMatching(normalization: .nospace).isCorrect("8 8 3", gold: "883"))
        #expect(!AnswerMatching(normalization: .whitespace).isCorrect("8 8 3", gold: "883"))
        #expect(!AnswerMatching(normalization: .exact).isCorrect("8 6 ", gold: "8 6"))
    }

    @Test func accuracyPerCategoryInNumericOrder() {
        var a = Accuracy()
        for (c, ok) in [("10", true), ("2", false), ("2", true), ("1", true)] { a.add(category: c, correct: ok) }
        #expect(JSONWriter().render(a.json) == #"{"all":0.75,"1":1.0,"2":0.5,"10":1.0}"#)
    }
}
