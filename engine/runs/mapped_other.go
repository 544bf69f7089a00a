//go:build !unix

package runs

// region is not available here: buffers grow in the Go heap.
type region struct {
	mem        []byte
	accessible int
}

func newRegion(int) *region     { return nil }
func (r *region) grow(int) bool { return false }
func (r *region) free()         {}
