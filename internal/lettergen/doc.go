// Command lettergen writes the Unicode letter table that every non-Go SDK
// uses to split words, from one source: Go's unicode.IsLetter. Words in
// wmr's examples are maximal runs of letters, and a word count in Rust, C
// or AssemblyScript must give the same bytes as the Go one on any UTF-8
// text, so all SDKs share this table rather than their languages' own
// (which follow other Unicode versions and other definitions of letter).
//
// Run it with `make letters` (go run ./internal/lettergen) after a Go
// upgrade that changes the Unicode version; a test fails while the
// checked-in tables differ from what it would write.
package main
