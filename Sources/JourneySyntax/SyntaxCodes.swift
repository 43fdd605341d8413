import JourneyDiagnostics

/// The syntax phase's diagnostic catalogue: lexical errors (J00xx) and parse errors (J01xx).
public enum SyntaxCode {
    public static let invalidCharacter = DiagnosticCode("J0001", "invalid-character", .error,
        "A character that has no meaning in a journey file", help: "Remove the character, or put it inside a string.")
    public static let unterminatedString = DiagnosticCode("J0002", "unterminated-string", .error,
        "A string that is not closed before the end of its line", help: "Close the string with a '\"' on the same line.")
    public static let invalidNumber = DiagnosticCode("J0003", "invalid-number", .error,
        "A malformed number, duration or percentage", help: "Durations are a whole number and a unit: 30s, 15m, 1h, 2d, 1w.")
    public static let invalidTime = DiagnosticCode("J0004", "invalid-time", .error,
        "A time of day outside 00:00 to 23:59", help: "Write a 24-hour time of day, like 09:00 or 21:30.")
    public static let invalidDate = DiagnosticCode("J0005", "invalid-date", .error,
        "A date that does not exist", help: "Write a real calendar date as YYYY-MM-DD, like 2025-12-24.")
    public static let invalidEscape = DiagnosticCode("J0006", "invalid-escape", .error,
        "An unknown escape sequence in a string", help: "The escapes are \\\" \\\\ \\n and \\t; write {{ and }} for literal braces.")
    public static let unexpectedToken = DiagnosticCode("J0101", "unexpected-token", .error,
        "Something the grammar does not allow at this point", help: "Check the line against the grammar in grammar/journey.ebnf.")
    public static let unclosedBlock = DiagnosticCode("J0102", "unclosed-block", .error,
        "A '{' or '(' that is never closed", help: "Add the missing closing bracket.")
    public static let headerAfterStep = DiagnosticCode("J0103", "header-after-step", .error,
        "A header clause (on, when, goal, exit on, reentry) after the journey's first step", help: "Move the clause to the top of the journey, before its first step.")
    public static let chainedComparison = DiagnosticCode("J0104", "chained-comparison", .error,
        "Two comparisons chained without 'and' or 'or'", help: "Join the comparisons with 'and', e.g. 'a < b and b < c'.")
    public static let expectedMessage = DiagnosticCode("J0105", "expected-message", .error,
        "A send without a message", help: "Follow the channel with a string, a { field: value } block, or template \"name\" { … }.")
    public static let emptyInterpolation = DiagnosticCode("J0106", "empty-interpolation", .error,
        "An empty '{}' inside a string", help: "Put an expression inside the braces, or write {{ }} for literal braces.")
    public static let duplicateHeader = DiagnosticCode("J0107", "duplicate-header", .error,
        "A header clause given twice where only one is allowed", help: "Keep one 'on', one 'when' and one 'reentry' per journey.")
    public static let missingTrigger = DiagnosticCode("J0108", "missing-trigger", .error,
        "A journey without an 'on' trigger", help: "Start the journey with 'on EVENT' or 'on daily at HH:MM'.")

    public static let nestedTooDeeply = DiagnosticCode("J0109", "nested-too-deeply", .error,
        "Nesting deeper than the language allows", help: "Parentheses, blocks, strings inside strings and chains of operators may nest at most 100 deep; name a part with a step of its own, or split the journey.")
    public static let all: [DiagnosticCode] = [
        invalidCharacter, unterminatedString, invalidNumber, invalidTime, invalidDate, invalidEscape,
        unexpectedToken, unclosedBlock, headerAfterStep, chainedComparison, expectedMessage, emptyInterpolation,
        duplicateHeader, missingTrigger, nestedTooDeeply,
    ]
}
