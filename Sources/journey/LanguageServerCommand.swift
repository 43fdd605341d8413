import ArgumentParser
import Foundation
import JourneyLanguageServer

struct LSP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp",
        abstract: "Run the language server (Language Server Protocol over standard input and output)."
    )

    func run() throws {
        let code = LanguageServer().serve()
        throw ExitCode(code)
    }
}
