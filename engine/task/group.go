package task

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// grouper feeds a sorted stream to reduce or combine as chunks of groups of
// about chunkBytes. A key whose values overflow the chunk ends it with the
// "more" flag; the guest pulls the rest through next_values (groupSource),
// and whatever it leaves unread is skipped. It remembers the keys of the
// chunk in flight so errors can name the failing key.
type grouper struct {
	chunkBytes int
	cw         abi.ChunkWriter
	key        []byte
	keys       []byte // keys of the chunk in flight, back to back
	keyEnds    []int
	src        groupSource
}

// call is reduce or combine on one chunk.
type call func(chunk []byte, src wasmhost.ValueSource) error

// run feeds all of s to fn. It returns the number of groups and values.
func (g *grouper) run(s runs.Stream, fn call) (groups, values int64, err error) {
	if g.chunkBytes <= 0 {
		g.chunkBytes = DefaultChunkBytes
	}
	g.reset()
	flush := func(src wasmhost.ValueSource) error {
		if g.cw.Groups() == 0 {
			return nil
		}
		err := fn(g.cw.Bytes(), src)
		g.reset()
		return err
	}
	for {
		k, _, ok, err := s.Peek()
		if err != nil {
			return groups, values, err
		}
		if !ok {
			break
		}
		g.key = append(g.key[:0], k...)
		if g.cw.Groups() > 0 && g.cw.Size()+abi.GroupOverhead(len(g.key))+len(g.key) > g.chunkBytes {
			if err := flush(nil); err != nil {
				return groups, values, err
			}
		}
		g.cw.BeginGroup(g.key)
		g.keys = append(g.keys, g.key...)
		g.keyEnds = append(g.keyEnds, len(g.keys))
		groups++
		inGroup := 0
		continued := false
		for {
			k, v, ok, err := s.Peek()
			if err != nil {
				return groups, values, err
			}
			if !ok || !bytes.Equal(k, g.key) {
				break
			}
			if g.cw.Size()+abi.ValueSize(len(v)) > g.chunkBytes && (inGroup > 0 || g.cw.Groups() > 1) {
				g.cw.EndGroup(true)
				g.src = groupSource{s: s, key: g.key}
				if err := flush(&g.src); err != nil {
					return groups, values, err
				}
				values += g.src.taken
				// Skip what the guest did not read.
				for {
					k, _, ok, err := s.Peek()
					if err != nil {
						return groups, values, err
					}
					if !ok || !bytes.Equal(k, g.src.key) {
						break
					}
					s.Advance()
					values++
				}
				continued = true
				break
			}
			g.cw.AddValue(v)
			inGroup++
			values++
			s.Advance()
		}
		if !continued {
			g.cw.EndGroup(false)
			if g.cw.Size() >= g.chunkBytes {
				if err := flush(nil); err != nil {
					return groups, values, err
				}
			}
		}
	}
	return groups, values, flush(nil)
}

func (g *grouper) reset() {
	g.cw.Reset()
	g.keys = g.keys[:0]
	g.keyEnds = g.keyEnds[:0]
}

// groupKey returns the key of group i of the chunk in flight (for errors).
func (g *grouper) groupKey(i int) ([]byte, bool) {
	if i < 0 || i >= len(g.keyEnds) {
		return nil, false
	}
	start := 0
	if i > 0 {
		start = g.keyEnds[i-1]
	}
	return g.keys[start:g.keyEnds[i]], true
}

// groupSource streams the remaining values of one key from a stream.
type groupSource struct {
	s     runs.Stream
	key   []byte
	taken int64
}

func (gs *groupSource) PeekValue() ([]byte, bool, error) {
	k, v, ok, err := gs.s.Peek()
	if err != nil || !ok || !bytes.Equal(k, gs.key) {
		return nil, false, err
	}
	return v, true, nil
}

func (gs *groupSource) SkipValue() {
	gs.s.Advance()
	gs.taken++
}

// keyed names the key of the group a module error happened on ("reducing
// key \"the\": ..."); doing says what the module was doing.
func (g *grouper) keyed(doing string, err error) error {
	var me *wasmhost.ModuleError
	if errors.As(err, &me) {
		if k, ok := g.groupKey(me.Record); ok {
			return fmt.Errorf("%s key %q: %w", doing, truncKey(k), err)
		}
	}
	return err
}
