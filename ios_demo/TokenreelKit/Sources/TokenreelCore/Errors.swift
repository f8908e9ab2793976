import Foundation

/// A problem the user can fix (tokenreel/errors.py's UserError): the message says what to do.
public struct TokenreelError: Error, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var errorDescription: String? { message }
}
