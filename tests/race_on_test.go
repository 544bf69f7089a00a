//go:build race

package tests

// raceBuild says the tests run under the race detector; the wmr binary
// they start (nodes, workers) is then built with it too.
const raceBuild = true
