package sampling

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
)

// Partitioner names.
const (
	Hash  = "hash"  // the default: P(key) = hash(key) mod R (ABI.md section 6)
	Range = "range" // split points sampled from the input
)

// Check says whether name is a partitioner wmr has ("" is hash).
func Check(name string) error {
	switch name {
	case "", Hash, Range:
		return nil
	}
	return fmt.Errorf("unknown partitioner %q: use %q (the default) or %q", name, Hash, Range)
}

// Sampling defaults: up to MaxWindows windows of WindowBytes each, so a
// sample reads at most 16 MiB of input however large the job.
const (
	WindowBytes = 64 << 10
	MaxWindows  = 256
)

// Window is a byte range of one split to sample: Split indexes the job's
// splits, Offset is relative to the split's start. A window owns the
// records that start inside it, as a split does.
type Window struct {
	Split  int
	Offset int64
	Length int64
}

// Plan places sampling windows over splits of the given lengths: every
// split whole when they hold at most MaxWindows*WindowBytes in all,
// otherwise MaxWindows windows of WindowBytes at even steps through the
// bytes of all splits in order (a window does not cross into the next
// split). Windows come out ordered by split and offset.
func Plan(lengths []int64) []Window {
	var total int64
	for _, n := range lengths {
		total += n
	}
	var out []Window
	if total <= MaxWindows*WindowBytes {
		for i, n := range lengths {
			if n > 0 {
				out = append(out, Window{Split: i, Length: n})
			}
		}
		return out
	}
	step := total / MaxWindows
	split, start := 0, int64(0) // the split holding position pos, and where it starts
	for k := int64(0); k < MaxWindows; k++ {
		pos := k * step
		for pos >= start+lengths[split] {
			start += lengths[split]
			split++
		}
		off := pos - start
		n := min(WindowBytes, lengths[split]-off)
		out = append(out, Window{Split: split, Offset: off, Length: n})
	}
	return out
}

// Bounds returns the split points for parts partitions from sampled keys:
// at most parts-1 keys, strictly increasing. keys is sorted in place.
// Fewer points come back when the sample has fewer distinct keys (those
// partitions stay empty); none for parts <= 1 or no keys.
func Bounds(keys [][]byte, parts int) [][]byte {
	if parts <= 1 || len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, bytes.Compare)
	var out [][]byte
	for i := 1; i < parts; i++ {
		k := keys[int(int64(i)*int64(len(keys))/int64(parts))]
		if len(out) > 0 && bytes.Compare(k, out[len(out)-1]) <= 0 {
			continue
		}
		out = append(out, bytes.Clone(k))
	}
	return out
}

// Partition is key's partition under bounds: how many split points are at
// or below it. With bounds from Bounds(_, parts) it is below parts.
func Partition(bounds [][]byte, key []byte) int {
	return sort.Search(len(bounds), func(i int) bool { return bytes.Compare(key, bounds[i]) < 0 })
}

// CheckBounds says whether bounds can partition a job with parts reducers
// (a coordinator's record could be damaged or hand-made).
func CheckBounds(bounds [][]byte, parts int) error {
	if len(bounds) >= max(parts, 1) {
		return fmt.Errorf("%d split points for %d reducers: at most %d", len(bounds), parts, parts-1)
	}
	for i := 1; i < len(bounds); i++ {
		if bytes.Compare(bounds[i-1], bounds[i]) >= 0 {
			return fmt.Errorf("split points are not strictly increasing at %d", i)
		}
	}
	return nil
}
