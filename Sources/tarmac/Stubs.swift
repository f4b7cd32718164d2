import ArgumentParser
struct RenderCommand: ParsableCommand { static let configuration = CommandConfiguration(commandName: "render"); func run() throws {} }
struct ExplainCommand: ParsableCommand { static let configuration = CommandConfiguration(commandName: "explain"); func run() throws {} }
struct SchemaCommand: ParsableCommand { static let configuration = CommandConfiguration(commandName: "schema"); func run() throws {} }
