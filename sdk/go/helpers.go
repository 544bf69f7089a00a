package wmr

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// Offset decodes the key of a text input record: the byte offset of the
// line in its file, an 8-byte big-endian integer.
func Offset(key []byte) int64 {
	if len(key) != 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(key))
}

// ParseInt parses a decimal integer with an optional sign, without
// allocating.
func ParseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("empty string is not an integer")
	}
	neg := false
	i := 0
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i = 1
		if len(b) == 1 {
			return 0, fmt.Errorf("%q is not an integer", b)
		}
	}
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, fmt.Errorf("%q is not an integer", b)
		}
		if n > (math.MaxUint64-9)/10 {
			return 0, fmt.Errorf("%q overflows a 64-bit integer", b)
		}
		n = n*10 + uint64(c)
	}
	if neg {
		if n > 1<<63 {
			return 0, fmt.Errorf("%q overflows a 64-bit integer", b)
		}
		return -int64(n), nil
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%q overflows a 64-bit integer", b)
	}
	return int64(n), nil
}

// AppendInt appends n in decimal to dst.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// unsafeBytes views a string's bytes without copying; the result must not
// be modified.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Sum is a ready-made Reduce (and Combine) function: it adds up the key's
// values, each a decimal integer, and emits the key with the total. Word
// counts, sums and tallies need nothing else:
//
//	wmr.Register(wmr.Job{Map: mapWords, Reduce: wmr.Sum, Combine: wmr.Sum})
func Sum(key []byte, values *Values, emit *Emitter) error {
	n, err := values.SumInts()
	if err != nil {
		return err
	}
	emit.EmitInt(key, n)
	return nil
}
