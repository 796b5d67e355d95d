import Foundation
import QuietStarJSON
import QuietStarSTaR
import QuietStarTestSupport
import Testing

@Suite struct QuestionsTests {
    @Test func readsQuestionsWithCategories() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("q.jsonl")
        try Data(#"""
        {"id": "a", "question": "1 + 2", "answer": "3", "category": 1}

        {"question": "2 + 2", "answer": "4", "category": "easy"}
        """#.utf8).write(to: URL(fileURLWithPath: path))
        let q = try STaRQuestion.read(path)
        #expect(q.count == 2)
        #expect(q[0] == STaRQuestion(id: .string("a"), question: "1 + 2", answer: "3", category: "1"))
        #expect(q[1].id == .integer(3), "no id: the line number")
        #expect(q[1].category == "easy")
    }

    @Test func aBadLineNamesItsNumber() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("q.jsonl")
        try Data("{\"question\": \"1\", \"answer\": \"1\"}\n{\"question\": 5, \"answer\": \"1\"}\n".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try STaRQuestion.read(path)
            Issue.record("accepted a question that is not a string")
        } catch {
            #expect("\(error)".contains("line 2"))
        }
    }
}
