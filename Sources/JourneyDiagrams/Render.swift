/// DOT and Mermaid text for flow graphs.
public enum GraphRenderer {
    public static func dot(_ graphs: [FlowGraph]) -> String {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
        }
        var out = "digraph journeys {\n  rankdir=TB;\n  graph [fontname=\"Helvetica\", fontsize=12];\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n"
        for g in graphs {
            out += "  subgraph \(q("cluster_" + g.name)) {\n    label=\(q(g.title.isEmpty ? g.name : "\(g.name): \(g.title)"));\n"
            for n in g.nodes {
                let style: String = switch n.shape {
                case .start: "shape=box, style=\"rounded,filled\", fillcolor=\"#dbeafe\""
                case .step: "shape=box"
                case .wait: "shape=box, style=\"rounded,dashed\""
                case .decision: "shape=diamond, style=filled, fillcolor=\"#fef3c7\""
                case .send: "shape=box, style=filled, fillcolor=\"#dcfce7\""
                case .end: "shape=doublecircle, style=filled, fillcolor=\"#e5e7eb\""
                case .note: "shape=note, style=filled, fillcolor=\"#fce7f3\""
                }
                out += "    \(q(n.id)) [label=\(n.note.map { html(n.label, note: $0) } ?? q(n.label)), \(style)];\n"
            }
            for e in g.edges {
                var attrs: [String] = []
                if !e.label.isEmpty { attrs.append("label=\(q(e.label))") }
                if e.dashed { attrs.append("style=dashed") }
                out += "    \(q(e.from)) -> \(q(e.to))" + (attrs.isEmpty ? "" : " [\(attrs.joined(separator: ", "))]") + ";\n"
            }
            out += "  }\n"
        }
        return out + "}\n"
    }

    /// A label with a note under it, as a Graphviz HTML-like label (text escaped).
    static func html(_ label: String, note: String) -> String {
        func e(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "<BR/>")
        }
        return "<\(e(label))<BR/><FONT POINT-SIZE=\"10\" COLOR=\"#1e3a8a\">\(e(note))</FONT>>"
    }

    public static func mermaid(_ graphs: [FlowGraph]) -> String {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "\n", with: "<br/>") + "\""
        }
        var out = "flowchart TD\n"
        for g in graphs {
            out += "  subgraph \(g.name)[\(q(g.title.isEmpty ? g.name : g.title))]\n"
            for n in g.nodes {
                let label = q(n.label)
                let shaped: String = switch n.shape {
                case .start: "([\(label)])"
                case .step: "[\(label)]"
                case .wait: "[/\(label)/]"
                case .decision: "{\(label)}"
                case .send: "[[\(label)]]"
                case .end: "((\(label)))"
                case .note: ">\(label)]"
                }
                out += "    \(n.id)\(shaped)\n"
            }
            for e in g.edges {
                let arrow = e.dashed ? "-.->" : "-->"
                out += "    \(e.from) \(arrow)" + (e.label.isEmpty ? "" : "|\(q(e.label))|") + " \(e.to)\n"
            }
            out += "  end\n"
        }
        return out
    }
}
