/// Every instruction of the VM. The table in `Opcode.info` is the one place that says how each
/// is encoded and what it does to the stack: the emitter, the verifier, the disassembler and the
/// VM all read it.
public enum Opcode: UInt8, Sendable, CaseIterable {
    case constant        // u16 constant → push it
    case pushNone        // push none
    case pushTrue        // push true
    case pushFalse       // push false
    case local           // u8 slot → push the local
    case setLocal        // u8 slot; pop into the local
    case candidate       // push the event a predicate is testing
    case attribute       // u16 attribute → push the profile's attribute
    case field           // u8 field; pop a record (or none), push its field (or none)
    case not             // pop bool, push its negation
    case negate          // pop number or duration, push its negation
    case add, subtract, multiply, divide // pop two, push the result
    case equal, notEqual, less, lessEqual, greater, greaterEqual // pop two, push bool
    case coalesce        // pop b, a; push a unless none, else b
    case concat          // u8 n; pop n values, push their text joined
    case now             // push the current instant
    case today           // push the profile's local date
    case history         // u8 function, u16 event, u8 field, u16 predicate, u16 within → push the answer
    case jump            // u32 target
    case jumpIfFalse     // u32 target; pop a bool, jump when false
    case pop             // drop the top value
    case splitBucket     // u16 split position → push the profile's bucket, 0..<10000
    case wait            // u16 duration constant; suspend until then
    case waitUntil       // u16 minutes; suspend until the next such local time
    case waitFor         // u16 event, u16 predicate, u16 within constant, u8 slot, u32 timeout target; suspend
    case send            // u16 send descriptor; pop its values, send (or hold for quiet hours)
    case setAttribute    // u16 attribute; pop the value into the profile
    case exit            // end the instance (exited by the journey)
    case end             // end the instance (completed)
    case returnValue     // end a predicate with the bool on top of the stack
    case mark            // u16 step, u8 outcome; count it (format 3)
    case makeList        // u8 n; pop n values, push them as a list (format 4)
    case contains        // pop a list (or string), then an item; push whether it holds it
    case builtin         // u8 function (Builtin); pop its arguments, push its result
    case format          // u16 spec constant; pop a value, push it as text (FormatSpec)
    case countAll        // u16 event, u8 field, u16 within constant, u8 distinct; pop the value, push everyone's count
    case top             // u16 event, u8 field, u16 predicate, u16 within, u8 n; push the most frequent value (n 0) or the n most frequent
    case also            // u16 event, u8 field, u16 window, u8 n, u16 except event, u8 except field; pop an item, push its n companions
    case mapText         // u16 function, u8 slot; pop a list; for each item (in the slot) run the function; push the texts joined

    /// The first instruction of format 4: a bundle that uses any from here on is written as 4.
    public static let firstOfFormat4 = Opcode.makeList
}

/// The width of one operand.
public enum OperandWidth: Int, Sendable {
    case u8 = 1, u16 = 2, u32 = 4
}

/// How an instruction ends a path through the code.
public enum ControlKind: Sendable {
    case next          // goes on to the next instruction
    case suspends      // stops the instance; resumes at the next instruction (or a jump operand)
    case terminates    // ends the code
}

/// One row of the opcode table.
public struct OpcodeInfo: Sendable {
    public let mnemonic: String
    public let operands: [OperandWidth]
    /// Values popped and pushed; `nil` pops where the count comes from an operand.
    public let pops: Int?
    public let pushes: Int
    /// The operand holding a jump target, if any.
    public let jumpOperand: Int?
    /// False for what only a predicate may do (returnValue), true for what only the main code may.
    public let control: ControlKind
    public let mainOnly: Bool
    public let predicateOnly: Bool

    init(_ mnemonic: String, _ operands: [OperandWidth] = [], pops: Int?, pushes: Int, jump: Int? = nil,
         control: ControlKind = .next, mainOnly: Bool = false, predicateOnly: Bool = false) {
        self.mnemonic = mnemonic
        self.operands = operands
        self.pops = pops
        self.pushes = pushes
        self.jumpOperand = jump
        self.control = control
        self.mainOnly = mainOnly
        self.predicateOnly = predicateOnly
    }

    /// Bytes taken by the opcode and its operands.
    public var size: Int { 1 + operands.reduce(0) { $0 + $1.rawValue } }
}

extension Opcode {
    public var info: OpcodeInfo { Opcode.table[Int(rawValue)] }

    /// Bytes taken by each instruction, by opcode: the VM's dispatch loop reads this rather than
    /// copying the table row.
    public static let sizes: [Int] = table.map(\.size)

    /// (Inlinable: the runtime reads it per instruction, and a call into this module and its
    /// table's lazy start cost more than the read.)
    @inlinable
    public var size: Int { Opcode.sizes[Int(rawValue)] }

    static let table: [OpcodeInfo] = Opcode.allCases.map { op in
        switch op {
        case .constant: OpcodeInfo("constant", [.u16], pops: 0, pushes: 1)
        case .pushNone: OpcodeInfo("none", pops: 0, pushes: 1)
        case .pushTrue: OpcodeInfo("true", pops: 0, pushes: 1)
        case .pushFalse: OpcodeInfo("false", pops: 0, pushes: 1)
        case .local: OpcodeInfo("local", [.u8], pops: 0, pushes: 1)
        case .setLocal: OpcodeInfo("set_local", [.u8], pops: 1, pushes: 0, mainOnly: true)
        case .candidate: OpcodeInfo("candidate", pops: 0, pushes: 1, predicateOnly: true)
        case .attribute: OpcodeInfo("attribute", [.u16], pops: 0, pushes: 1)
        case .field: OpcodeInfo("field", [.u8], pops: 1, pushes: 1)
        case .not: OpcodeInfo("not", pops: 1, pushes: 1)
        case .negate: OpcodeInfo("negate", pops: 1, pushes: 1)
        case .add: OpcodeInfo("add", pops: 2, pushes: 1)
        case .subtract: OpcodeInfo("subtract", pops: 2, pushes: 1)
        case .multiply: OpcodeInfo("multiply", pops: 2, pushes: 1)
        case .divide: OpcodeInfo("divide", pops: 2, pushes: 1)
        case .equal: OpcodeInfo("equal", pops: 2, pushes: 1)
        case .notEqual: OpcodeInfo("not_equal", pops: 2, pushes: 1)
        case .less: OpcodeInfo("less", pops: 2, pushes: 1)
        case .lessEqual: OpcodeInfo("less_equal", pops: 2, pushes: 1)
        case .greater: OpcodeInfo("greater", pops: 2, pushes: 1)
        case .greaterEqual: OpcodeInfo("greater_equal", pops: 2, pushes: 1)
        case .coalesce: OpcodeInfo("coalesce", pops: 2, pushes: 1)
        case .concat: OpcodeInfo("concat", [.u8], pops: nil, pushes: 1)
        case .now: OpcodeInfo("now", pops: 0, pushes: 1)
        case .today: OpcodeInfo("today", pops: 0, pushes: 1)
        case .history: OpcodeInfo("history", [.u8, .u16, .u8, .u16, .u16], pops: 0, pushes: 1)
        case .jump: OpcodeInfo("jump", [.u32], pops: 0, pushes: 0, jump: 0)
        case .jumpIfFalse: OpcodeInfo("jump_if_false", [.u32], pops: 1, pushes: 0, jump: 0)
        case .pop: OpcodeInfo("pop", pops: 1, pushes: 0)
        case .splitBucket: OpcodeInfo("split_bucket", [.u16], pops: 0, pushes: 1, mainOnly: true)
        case .wait: OpcodeInfo("wait", [.u16], pops: 0, pushes: 0, control: .suspends, mainOnly: true)
        case .waitUntil: OpcodeInfo("wait_until", [.u16], pops: 0, pushes: 0, control: .suspends, mainOnly: true)
        case .waitFor: OpcodeInfo("wait_for", [.u16, .u16, .u16, .u8, .u32], pops: 0, pushes: 0, jump: 4, control: .suspends, mainOnly: true)
        case .send: OpcodeInfo("send", [.u16], pops: nil, pushes: 0, control: .suspends, mainOnly: true)
        case .setAttribute: OpcodeInfo("set_attribute", [.u16], pops: 1, pushes: 0, mainOnly: true)
        case .exit: OpcodeInfo("exit", pops: 0, pushes: 0, control: .terminates, mainOnly: true)
        case .end: OpcodeInfo("end", pops: 0, pushes: 0, control: .terminates, mainOnly: true)
        case .returnValue: OpcodeInfo("return", pops: 1, pushes: 0, control: .terminates, predicateOnly: true)
        case .mark: OpcodeInfo("mark", [.u16, .u8], pops: 0, pushes: 0, mainOnly: true)
        case .makeList: OpcodeInfo("make_list", [.u8], pops: nil, pushes: 1)
        case .contains: OpcodeInfo("contains", pops: 2, pushes: 1)
        case .builtin: OpcodeInfo("builtin", [.u8], pops: nil, pushes: 1)
        case .format: OpcodeInfo("format", [.u16], pops: 1, pushes: 1)
        case .countAll: OpcodeInfo("count_all", [.u16, .u8, .u16, .u8], pops: 1, pushes: 1)
        case .top: OpcodeInfo("top", [.u16, .u8, .u16, .u16, .u8], pops: 0, pushes: 1)
        case .also: OpcodeInfo("also", [.u16, .u8, .u16, .u8, .u16, .u8], pops: 1, pushes: 1)
        case .mapText: OpcodeInfo("map_text", [.u16, .u8], pops: 1, pushes: 1)
        }
    }
}

/// The history functions, as the `history` instruction's first operand.
public enum HistoryFunction: UInt8, Sendable, CaseIterable {
    case count, exists, sum, last, daysSince

    public var name: String {
        switch self {
        case .count: "count"
        case .exists: "exists"
        case .sum: "sum"
        case .last: "last"
        case .daysSince: "days_since"
        }
    }

    public init?(name: String) {
        guard let f = HistoryFunction.allCases.first(where: { $0.name == name }) else { return nil }
        self = f
    }
}

/// Reads the operands of the instruction at `pc` (which the verifier has bounds-checked).
@inlinable
public func readOperand(_ code: UnsafeBufferPointer<UInt8>, _ at: Int, _ width: OperandWidth) -> Int {
    switch width {
    case .u8: Int(code[at])
    case .u16: Int(code[at]) | Int(code[at + 1]) << 8
    case .u32: Int(code[at]) | Int(code[at + 1]) << 8 | Int(code[at + 2]) << 16 | Int(code[at + 3]) << 24
    }
}

/// "None" for an optional u16 operand (no predicate, no window).
public let noIndex16 = 0xFFFF
/// "None" for an optional u8 operand (no alias slot, no field).
public let noIndex8 = 0xFF
