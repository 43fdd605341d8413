import JourneyDiagnostics

/// The semantic phase's diagnostic catalogue: names (J02xx), types (J03xx), rules (J04xx), lints (J05xx).
public enum SemanticCode {
    // MARK: Names and declarations
    public static let duplicateDeclaration = DiagnosticCode("J0201", "duplicate-declaration", .error,
        "A name declared twice in the project", help: "Rename or remove one of the declarations; names are unique across all files of a project.")
    public static let unknownType = DiagnosticCode("J0202", "unknown-type", .error,
        "A type that does not exist", help: "The types are bool, int, decimal, money, string, url, date, time, duration, T? and list[T].")
    public static let unknownAttribute = DiagnosticCode("J0203", "unknown-attribute", .error,
        "A profile attribute that the schema does not declare", help: "Use an attribute declared in 'profile { … }', or declare it there.")
    public static let unknownEvent = DiagnosticCode("J0204", "unknown-event", .error,
        "An event that the schema does not declare", help: "Use an event declared with 'event NAME { … }', or declare it.")
    public static let unknownField = DiagnosticCode("J0205", "unknown-field", .error,
        "A field that the event does not have", help: "Use a field declared in the event's declaration.")
    public static let unknownName = DiagnosticCode("J0206", "unknown-name", .error,
        "A name that is not in scope", help: "Use profile.ATTRIBUTE, an alias bound with 'as', or (inside 'where') a field of the event.")
    public static let unknownFunction = DiagnosticCode("J0207", "unknown-function", .error,
        "A function that does not exist", help: "The history functions are count, exists, sum, last, days_since and count_all; the others are size, upper, lower, capitalize, join, percent and format.")
    public static let unknownChannelKind = DiagnosticCode("J0208", "unknown-channel-kind", .error,
        "A channel kind that does not exist", help: "The channel kinds are push, web_push, email, sms, whatsapp, wallet and in_app.")
    public static let undeclaredChannel = DiagnosticCode("J0209", "undeclared-channel", .error,
        "A send on a channel the schema does not declare", help: "Declare the channel in the schema: 'channel KIND address profile.ATTRIBUTE'.")
    public static let unknownMessageField = DiagnosticCode("J0210", "unknown-message-field", .error,
        "A message field that the channel kind does not have", help: "Each channel kind has its own fields; see the language reference.")
    public static let missingProfile = DiagnosticCode("J0211", "missing-profile", .error,
        "A project without a profile declaration", help: "Declare the profile attributes once, in 'profile { … }' (usually in schema.journey).")
    public static let duplicateField = DiagnosticCode("J0212", "duplicate-field", .error,
        "A field given twice in one block", help: "Keep one of the two.")
    public static let reservedName = DiagnosticCode("J0213", "reserved-name", .error,
        "A declaration that takes a name the language keeps for itself", help: "Rename it; a profile attribute cannot be called `id`.")
    public static let unknownTestProfile = DiagnosticCode("J0214", "unknown-test-profile", .error,
        "A test names a profile it does not give", help: "Give every profile a test uses: 'given profile ana { … }' (in the test, or outside every test to share it).")
    public static let unknownJourney = DiagnosticCode("J0215", "unknown-journey", .error,
        "A test names a journey the project does not have", help: "Name one of the project's journeys.")
    public static let unknownTestState = DiagnosticCode("J0216", "unknown-test-state", .error,
        "A test expects a state, status or split branch that does not exist", help: "States: waiting, converted, exited, completed, failed (or 'is not in'); statuses: sent, suppressed; branches: a split's labels.")
    // MARK: Types
    public static let typeMismatch = DiagnosticCode("J0301", "type-mismatch", .error,
        "A value of the wrong type", help: "Change the value, or compare it with a value of its own type.")
    public static let unnarrowedOptional = DiagnosticCode("J0302", "unnarrowed-optional", .error,
        "An optional value used where a value is needed", help: "Give a default with '??', or use it inside 'if x != none { … }'.")
    public static let invalidOperands = DiagnosticCode("J0303", "invalid-operands", .error,
        "An operator applied to values it does not work on", help: "Check the types on both sides of the operator.")
    public static let invalidDefault = DiagnosticCode("J0304", "invalid-default", .error,
        "A default that is not a literal of its attribute's type", help: "Give a profile attribute a literal of its own type: 'bonus: int = 0', 'tier: string = \"Silver\"'.")
    public static let invalidArguments = DiagnosticCode("J0306", "invalid-arguments", .error,
        "A built-in function called with the wrong number or kinds of arguments", help: "Each built-in function takes a fixed number of arguments; the message says which.")
    public static let invalidFormatPattern = DiagnosticCode("J0307", "invalid-format-pattern", .error,
        "A format() pattern that cannot format the value", help: "Times and dates take a date pattern (y M d E H h m s a), money a currency code or a number pattern, numbers a pattern like #,##0.00.")
    public static let invalidTestValue = DiagnosticCode("J0305", "invalid-test-value", .error,
        "A value in a test that is not a literal of its field's type", help: "Give each attribute and field a literal of its type: \"Ana\", 120, 19.90, true, 2025-03-01, 2h.")
    // MARK: Journey rules
    public static let splitNotWhole = DiagnosticCode("J0401", "split-not-100", .error,
        "Split percentages that do not sum to 100%", help: "Make the branches' percentages add up to exactly 100%.")
    public static let unreachable = DiagnosticCode("J0402", "unreachable", .error,
        "A step that can never run, after 'exit'", help: "Remove the step, or move it before the 'exit'.")
    public static let nonPositiveDuration = DiagnosticCode("J0403", "non-positive-wait", .error,
        "A wait or time window of zero or less", help: "Wait for a positive duration, e.g. 'wait 1h'.")
    public static let aliasInAudience = DiagnosticCode("J0404", "alias-in-audience-journey", .error,
        "A trigger alias in an audience journey, which has no triggering event", help: "Remove the alias; an 'on daily at' journey starts from the profile, not an event.")
    public static let emptySplitBranch = DiagnosticCode("J0405", "empty-split-branch", .warning,
        "A split branch of 0%", help: "Give every branch a share above 0%, or remove it.")
    public static let invalidPolicy = DiagnosticCode("J0406", "invalid-policy", .error,
        "A policy rule that cannot work", help: "A cap needs at least one message over a positive window; quiet hours need two different times.")
    public static let invalidChannelBinding = DiagnosticCode("J0407", "invalid-channel-binding", .error,
        "A channel whose address or consent is not a profile attribute of the right type", help: "Bind the address to a string attribute and consent to a bool attribute of the profile.")
    public static let splitPrecision = DiagnosticCode("J0408", "split-precision", .error,
        "A split share finer than a basis point", help: "Write split percentages with at most two decimals (12.5%, 33.33%).")
    public static let limitExceeded = DiagnosticCode("J0409", "limit-exceeded", .error,
        "More of something than a bundle can hold", help: "Each limit is named in the message; stay within it (see the language reference's limits).")
    public static let catalogEventMisuse = DiagnosticCode("J0411", "catalog-event-misuse", .error,
        "A catalog event used as if it were one profile's, or 'for each profile' on a profile's event",
        help: "A catalog event (about a product or a store) starts a journey only with 'for each profile where …', and is in no profile's history.")
    public static let countAllShape = DiagnosticCode("J0412", "count-all-shape", .error,
        "A count_all() that is not 'EVENT where FIELD == value'",
        help: "count_all(EVENT where FIELD == value within DURATION) counts everyone's events with that value, from an index kept as events arrive; other conditions would need a scan of every profile's history.")
    public static let testTimeOrder = DiagnosticCode("J0410", "test-time-order", .error,
        "A test's times that go back, or a relative time with nothing before it", help: "Start a test at an absolute time ('at 2025-03-01T10:00:00Z') and go forward ('at +2h').")
    // MARK: Lints
    public static let unusedAlias = DiagnosticCode("J0501", "unused-alias", .warning,
        "An alias that is never used", help: "Remove 'as NAME', or use the alias.")
    public static let repeatedChannel = DiagnosticCode("J0502", "repeated-channel", .warning,
        "The same channel twice in one fallback chain", help: "A channel that was not deliverable will not be on its second try; remove the repeat.")
    public static let noGoal = DiagnosticCode("J0503", "no-goal", .warning,
        "A journey without a goal", help: "Add 'goal EVENT' so conversions are counted and converted customers leave the journey.")
    public static let longSMS = DiagnosticCode("J0504", "long-sms", .warning,
        "An SMS longer than one segment", help: "Keep an SMS within 160 GSM-7 characters (70 with other characters), or it is sent and billed as several.")
    public static let neverNone = DiagnosticCode("J0506", "never-none", .warning,
        "A test for none, or a default, on a value that is never none", help: "Remove the test or the '?? default': the value is always there.")
    public static let unindexedAudience = DiagnosticCode("J0507", "unindexed-audience", .warning,
        "A 'for each profile' that the history index cannot narrow: every profile is tested for each catalog event",
        help: "Start the condition with exists(EVENT where FIELD == alias.FIELD …) so only the profiles with such an event are tested.")
    public static let eventExceedsCap = DiagnosticCode("J0508", "event-exceeds-cap", .warning,
        "One event starts journeys that together can send one profile more messages than the cap allows in its window",
        help: "Space the journeys' sends apart, or give one of them a condition; the sends over the cap are suppressed.")
    public static let deadWaitFor = DiagnosticCode("J0509", "dead-wait-for", .warning,
        "A 'wait for' the journey's own goal or exit: its arrived block can never run",
        help: "The goal (or exit) ends the journey the moment the event arrives; remove the block or wait for another event.")
    public static let constantCondition = DiagnosticCode("J0510", "constant-condition", .warning,
        "A condition an enclosing one already decided: always true or always false here",
        help: "Remove the test (and its block, when it can never run).")
    public static let sendWithoutConsent = DiagnosticCode("J0511", "send-without-consent", .warning,
        "A send on a channel whose consent (or address) the journey itself switched off on every path before it",
        help: "Send before the 'set', or on another channel.")
    public static let exceedsCap = DiagnosticCode("J0505", "exceeds-cap", .warning,
        "A journey that can send more messages than the policy's cap allows in its window", help: "Space the sends out with waits, or remove one; the extra sends would be suppressed.")

    public static let all: [DiagnosticCode] = [
        duplicateDeclaration, unknownType, unknownAttribute, unknownEvent, unknownField, unknownName, unknownFunction,
        unknownChannelKind, undeclaredChannel, unknownMessageField, missingProfile, duplicateField, reservedName,
        unknownTestProfile, unknownJourney, unknownTestState,
        typeMismatch, unnarrowedOptional, invalidOperands, invalidDefault, invalidTestValue, invalidArguments, invalidFormatPattern,
        splitNotWhole, unreachable, nonPositiveDuration, aliasInAudience, emptySplitBranch, invalidPolicy, invalidChannelBinding, splitPrecision, limitExceeded, testTimeOrder, catalogEventMisuse, countAllShape,
        unusedAlias, repeatedChannel, noGoal, longSMS, exceedsCap, neverNone, unindexedAudience, eventExceedsCap, deadWaitFor,
        constantCondition, sendWithoutConsent,
    ]
}
