package runs

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultFanIn is how many runs a merge reads at once unless told
// otherwise (Hadoop's io.sort.factor): enough that one pass serves most
// jobs, few enough that a reduce over thousands of map outputs keeps its
// open files and read buffers (a block each) bounded.
const DefaultFanIn = 64

// ReduceFanIn merges segs, consecutive groups of at most fanIn at a time,
// into run files in dir, pass after pass, until at most fanIn remain, and
// returns those (the originals when there were no more than fanIn). Equal
// keys keep the order of segs, so the final merge gives the same records
// in the same order as one merge of all of them. remove deletes the files
// it wrote.
func ReduceFanIn(segs []Segment, fanIn int, dir, name string) (out []Segment, remove func(), err error) {
	if fanIn < 2 {
		fanIn = DefaultFanIn
	}
	var written []string
	remove = func() {
		for _, p := range written {
			os.Remove(p)
		}
	}
	for pass := 0; len(segs) > fanIn; pass++ {
		var next []Segment
		for i := 0; i < len(segs); i += fanIn {
			group := segs[i:min(i+fanIn, len(segs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			path := filepath.Join(dir, fmt.Sprintf("%s.merge%d-%d", name, pass, i/fanIn))
			seg, err := mergeToFile(group, path)
			if err != nil {
				remove()
				return nil, func() {}, err
			}
			written = append(written, path)
			next = append(next, seg)
		}
		segs = next
	}
	return segs, remove, nil
}

// mergeToFile merges segs into a new one-partition run file.
func mergeToFile(segs []Segment, path string) (Segment, error) {
	var streams []Stream
	var readers []*Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, s := range segs {
		if s.Length == 0 {
			continue
		}
		r, err := OpenSegment(s)
		if err != nil {
			return Segment{}, err
		}
		readers = append(readers, r)
		streams = append(streams, r)
	}
	w, err := Create(path, 1)
	if err != nil {
		return Segment{}, err
	}
	w.BeginPartition(0)
	m := NewMerger(streams)
	for {
		k, v, ok, err := m.Peek()
		if err != nil {
			w.Abort()
			return Segment{}, err
		}
		if !ok {
			break
		}
		if err := w.Add(k, v); err != nil {
			w.Abort()
			return Segment{}, err
		}
		m.Advance()
	}
	ix, err := w.Close(1)
	if err != nil {
		os.Remove(path)
		return Segment{}, err
	}
	off, n := ix.Segment(0)
	// No Source: damage found in this local file later is this node's
	// fault, not a map's to re-run.
	return Segment{Path: path, Offset: off, Length: n, Sums: ix.Checksums(0)}, nil
}
