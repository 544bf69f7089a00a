//go:build race

package worker

// raceEnabled: this binary runs under the race detector, whose shadow
// memory (several times the heap, mapped up front) no data limit sized for
// a normal worker can hold.
const raceEnabled = true
