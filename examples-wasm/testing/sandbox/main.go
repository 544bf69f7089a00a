// Command sandbox is a test job that probes its sandbox: for each input
// line it tries to read a file, list a directory, read the environment,
// read the clock and draw random bytes, and emits what it saw, so tests can
// check that none of it reaches the host and that it is deterministic.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, line []byte, emit *wmr.Emitter) error {
			_, err := os.ReadFile(string(line))
			emit.EmitString("read_file_error", fmt.Sprint(err != nil))
			_, err = os.ReadDir("/")
			emit.EmitString("read_dir_error", fmt.Sprint(err != nil))
			emit.EmitString("env", fmt.Sprintf("%d:%s", len(os.Environ()), os.Getenv("HOME")))
			emit.EmitString("year", fmt.Sprint(time.Now().Year()))
			b := make([]byte, 8)
			rand.Read(b)
			emit.EmitString("random", hex.EncodeToString(b))
			return nil
		},
		Reduce: func(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
			for values.Next() {
				emit.Emit(key, values.Value())
			}
			return nil
		},
	})
}

func main() {}
