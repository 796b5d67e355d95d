import QuietStarSTaR
import Testing

/// The addition task: the scratchpad layout of the STaR paper (after Nye et al.), exact digit
/// counts, distinct seeded draws.
@Suite struct AdditionTests {
    /// The paper's own two-digit example, line for line.
    @Test func scratchpadOfTheTwoDigitExample() {
        let p = AdditionProblem(a: 29, b: 57, digits: 2)
        #expect(p.question == "2 9 + 5 7")
        #expect(p.answer == "8 6")
        #expect(p.scratchpad == "<scratch>\n2 9 + 5 7 , C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6")
    }

    @Test func scratchpadCarriesIntoANewDigit() {
        let p = AdditionProblem(a: 624, b: 259, digits: 3)
        #expect(p.scratchLines == ["6 2 4 + 2 5 9 , C: 0", "6 2 + 2 5 , 3 C: 1", "6 + 2 , 8 3 C: 0", ", 8 8 3 C: 0", "0 8 8 3"])
        let q = AdditionProblem(a: 999, b: 101, digits: 3)
        #expect(q.answer == "1 1 0 0")
        #expect(q.scratchLines.last == "1 1 0 0")
        #expect(AdditionProblem(a: 0, b: 4, digits: 1).scratchpad == "<scratch>\n0 + 4 , C: 0\n, 4 C: 0\n0 4\n</scratch>\n4")
    }

    /// Every scratchpad line is consistent with the sum: the last line is carry + digits.
    @Test func scratchpadsAddUp() {
        var seen = 0
        for p in AdditionProblem.sample(digits: 1...6, perDigit: 40, seed: 9) {
            let last = p.scratchLines.last!.filter { $0 != " " }
            #expect(Int(last) == p.a + p.b)
            #expect(Int(p.answer.filter { $0 != " " }) == p.a + p.b)
            #expect(p.scratchLines.count == p.digits + 2)
            seen += 1
        }
        #expect(seen == 40 * 6)
    }

    @Test func drawsAreDistinctExactAndSeeded() {
        let a = AdditionProblem.sample(digits: 1...4, perDigit: 300, seed: 1)
        #expect(a == AdditionProblem.sample(digits: 1...4, perDigit: 300, seed: 1))
        #expect(a != AdditionProblem.sample(digits: 1...4, perDigit: 300, seed: 2))
        #expect(a.filter { $0.digits == 1 }.count == 100, "only 100 one-digit problems exist")
        #expect(Set(a).count == a.count)
        for p in a where p.digits > 1 {
            #expect(String(p.a).count == p.digits && String(p.b).count == p.digits)
        }
        #expect(AdditionProblem.count(digits: 2) == 8100)
    }

    @Test func exclusionKeepsAHeldOutSetApart() {
        let held = Set(AdditionProblem.sample(digits: 1...3, perDigit: 50, seed: 1))
        let train = AdditionProblem.sample(digits: 1...3, perDigit: 5000, seed: 2, excluding: held)
        #expect(Set(train).isDisjoint(with: held))
        #expect(train.filter { $0.digits == 1 }.count == 50)
        #expect(train.filter { $0.digits == 2 }.count == 5000)
    }

    @Test func questionsParseBack() {
        let p = AdditionProblem(a: 624, b: 259, digits: 3)
        #expect(AdditionProblem(question: p.question) == p)
        #expect(AdditionProblem(question: "624+259") == p)
        #expect(AdditionProblem(question: "0 + 7") == AdditionProblem(a: 0, b: 7, digits: 1))
        #expect(AdditionProblem(question: "6 2 + 2 5 9") == nil)
        #expect(AdditionProblem(question: "0 6 + 1 2") == nil)
        #expect(AdditionProblem(question: "what is 2 + 2") == nil)
    }
}
