package wasmhost

import (
	"encoding/binary"
	"errors"
)

// ExportsFunction reports whether wasm (a module's bytes) exports a
// function called name. It reads only the export section, so a driver can
// plan a job (has the module a combiner?) without compiling it again.
func ExportsFunction(wasm []byte, name string) (bool, error) {
	bad := errors.New("not a WebAssembly module: its sections do not parse")
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return false, bad
	}
	p := wasm[8:]
	for len(p) > 0 {
		id := p[0]
		size, n := binary.Uvarint(p[1:])
		if n <= 0 || size > uint64(len(p)-1-n) {
			return false, bad
		}
		body := p[1+n : 1+n+int(size)]
		p = p[1+n+int(size):]
		if id != 7 { // the export section
			continue
		}
		count, n := binary.Uvarint(body)
		if n <= 0 {
			return false, bad
		}
		body = body[n:]
		for range count {
			l, n := binary.Uvarint(body)
			if n <= 0 || l > uint64(len(body)-n) || len(body)-n-int(l) < 2 {
				return false, bad
			}
			export := string(body[n : n+int(l)])
			kind := body[n+int(l)]
			body = body[n+int(l)+1:]
			if _, n = binary.Uvarint(body); n <= 0 {
				return false, bad
			}
			body = body[n:]
			if kind == 0 && export == name {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}
