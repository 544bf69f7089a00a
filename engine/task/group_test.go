package task

import (
	"errors"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// sliceStream is a sorted stream of pairs held in memory.
type sliceStream struct{ kv [][2]string }

func (s *sliceStream) Peek() (key, value []byte, ok bool, err error) {
	if len(s.kv) == 0 {
		return nil, nil, false, nil
	}
	return []byte(s.kv[0][0]), []byte(s.kv[0][1]), true, nil
}

func (s *sliceStream) Advance() { s.kv = s.kv[1:] }

// A module error on a group of the chunk names that group's key; other
// errors pass as they are.
func TestModuleErrorsNameTheirKey(t *testing.T) {
	var g grouper
	s := &sliceStream{kv: [][2]string{{"apple", "1"}, {"apple", "2"}, {"pear", "1"}, {"plum", "3"}}}
	other := errors.New("disk full")
	var got []error
	_, _, err := g.run(s, func(chunk []byte, src wasmhost.ValueSource) error {
		got = append(got, g.keyed("reducing", &wasmhost.ModuleError{Module: "m.wasm", Call: "wmr_reduce", Record: 1, Msg: "trapped"}),
			g.keyed("reducing", &wasmhost.ModuleError{Module: "m.wasm", Call: "wmr_reduce", Record: 9, Msg: "trapped"}),
			g.keyed("combining", other))
		return nil
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("run: %v, %d calls", err, len(got))
	}
	if !strings.HasPrefix(got[0].Error(), `reducing key "pear": `) || !errors.As(got[0], new(*wasmhost.ModuleError)) {
		t.Errorf("group 1: %v", got[0])
	}
	if strings.Contains(got[1].Error(), "key") {
		t.Errorf("a group not in the chunk: %v", got[1])
	}
	if got[2] != other {
		t.Errorf("another error: %v", got[2])
	}
}
