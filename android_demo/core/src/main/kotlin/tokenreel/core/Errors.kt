package tokenreel.core

/** A problem with the user's input (a file, a setting), worded for the user: the app shows the message as is. */
class TokenreelException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)
