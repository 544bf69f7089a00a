// Package cli is the wmr command line: flag parsing, progress display and
// summaries on top of the engine. cmd/wmr's main is one line that calls
// Main, so everything here is testable with plain arguments and writers.
package cli
