import SwiftUI

@main
struct TokenreelDemoApp: App {
    var body: some Scene {
        WindowGroup { ContentView() }
    }
}
