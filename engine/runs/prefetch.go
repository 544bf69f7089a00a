//go:build amd64 || arm64

package runs

// prefetch asks the CPU to bring the two cache lines at p into its cache
// without waiting for them: a sorted buffer is read in key order, which is
// random order in its arena, and each record's first touch would
// otherwise stall on memory.
//
//go:noescape
func prefetch(p *byte)
