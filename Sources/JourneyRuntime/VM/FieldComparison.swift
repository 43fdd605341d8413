import JourneyBytecode

/// A history predicate of the shape `field == v` or `field != v` on the record tested, where
/// `v` does not depend on that record (a constant, a local, or a field of a local): the shape
/// of most `where` clauses (`count(product_viewed where category == view.category)`). `v` is
/// found once and each record's field compared with it, as the code would compare them, instead
/// of running the predicate's code for every record.
struct FieldComparison {
    let field: Int
    let value: Value
    let equal: Bool

    /// The comparison the predicate's code makes, or nil when the code has another shape.
    init?(_ code: UnsafeBufferPointer<UInt8>, locals: [Value], constants: [Value]) {
        var pc = 0
        func next(_ op: Opcode) -> Bool {
            guard pc < code.count, code[pc] == op.rawValue, pc + op.size <= code.count else { return false }
            pc += op.size
            return true
        }
        func operand(_ op: Opcode, _ width: OperandWidth) -> Int { readOperand(code, pc - op.size + 1, width) }
        guard next(.candidate), next(.field) else { return nil }
        field = operand(.field, .u8)
        if next(.constant) {
            let c = operand(.constant, .u16)
            guard c < constants.count else { return nil }
            value = constants[c]
        } else if next(.local) {
            let l = operand(.local, .u8)
            guard l < locals.count else { return nil }
            if next(.field) {
                let f = operand(.field, .u8)
                // As `field` reads it: a record's field, else none.
                if case .record(let r) = locals[l], f < r.fields.count { value = r.fields[f] } else { value = .none }
            } else {
                value = locals[l]
            }
        } else {
            return nil
        }
        if next(.equal) { equal = true } else if next(.notEqual) { equal = false } else { return nil }
        guard next(.returnValue), pc == code.count else { return nil }
    }

    /// What the predicate's code gives for this record.
    func matches(_ r: Record) -> Bool {
        let v = field < r.fields.count ? r.fields[field] : .none
        return Arithmetic.equal(v, value) == equal
    }
}
