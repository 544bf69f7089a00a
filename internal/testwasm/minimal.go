package testwasm

// Minimal returns a hand-assembled module that exports one page of memory
// and, for each name in i32Results, a function returning that constant.
// Signatures follow ABI v1 by name (wmr_abi_version takes nothing,
// wmr_alloc one i32, the rest two). It lets tests make broken modules
// (wrong version, missing export) without a toolchain.
func Minimal(i32Results map[string]int32, order ...string) []byte {
	sigOf := func(name string) byte {
		switch name {
		case "wmr_abi_version":
			return 0
		case "wmr_alloc":
			return 1
		}
		return 2
	}
	// Types: 0: () -> i32, 1: (i32) -> i32, 2: (i32, i32) -> i32.
	types := []byte{3,
		0x60, 0, 1, 0x7f,
		0x60, 1, 0x7f, 1, 0x7f,
		0x60, 2, 0x7f, 0x7f, 1, 0x7f}
	funcs := []byte{byte(len(order))}
	for _, n := range order {
		funcs = append(funcs, sigOf(n))
	}
	mem := []byte{1, 0, 1} // one memory, min 1 page, no max
	exports := []byte{byte(len(order) + 1)}
	for i, n := range order {
		exports = append(exports, byte(len(n)))
		exports = append(exports, n...)
		exports = append(exports, 0, byte(i))
	}
	exports = append(exports, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0)
	code := []byte{byte(len(order))}
	for _, n := range order {
		body := append([]byte{0, 0x41}, sleb(i32Results[n])...) // no locals; i32.const
		body = append(body, 0x0b)
		code = append(code, byte(len(body)))
		code = append(code, body...)
	}
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	for _, sec := range []struct {
		id   byte
		body []byte
	}{{1, types}, {3, funcs}, {5, mem}, {7, exports}, {10, code}} {
		out = append(out, sec.id, byte(len(sec.body)))
		out = append(out, sec.body...)
	}
	return out
}

func sleb(v int32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
