package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error: the bytes are not the
// msgpack shape this ABI specifies.
var ErrMalformed = errors.New("malformed msgpack")

// msgpack format bytes used by the ABI (see ABI.md, "Wire format").
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpFixArray = 0x90
	mpFixStr   = 0xa0
	mpFixMap   = 0x80
	mpMap16    = 0xde
	mpMap32    = 0xdf
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFixExt1  = 0xd4
	mpFixExt16 = 0xd8
)

// ArrayHeaderSize is the size of the fixed-width (array32) header that
// BatchWriter reserves so the record count can be patched in at the end.
const ArrayHeaderSize = 5

// AppendArrayHeader appends the shortest msgpack array header for n items.
func AppendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, mpFixArray|byte(n))
	case n <= 0xffff:
		return append(b, mpArray16, byte(n>>8), byte(n))
	default:
		return append(b, mpArray32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// PutArray32Header writes an array32 header for n items into b[0:5].
func PutArray32Header(b []byte, n int) {
	b[0] = mpArray32
	binary.BigEndian.PutUint32(b[1:5], uint32(n))
}

// BinHeaderSize returns the size of the bin header for a payload of n bytes.
func BinHeaderSize(n int) int {
	switch {
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	default:
		return 5
	}
}

// AppendBin appends p as a msgpack bin.
func AppendBin(b []byte, p []byte) []byte {
	n := len(p)
	switch {
	case n <= 0xff:
		b = append(b, mpBin8, byte(n))
	case n <= 0xffff:
		b = append(b, mpBin16, byte(n>>8), byte(n))
	default:
		b = append(b, mpBin32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, p...)
}

// appendStr appends v as a msgpack str.
func appendStr(b []byte, v string) []byte {
	n := len(v)
	switch {
	case n < 32:
		b = append(b, mpFixStr|byte(n))
	case n <= 0xff:
		b = append(b, mpStr8, byte(n))
	case n <= 0xffff:
		b = append(b, mpStr16, byte(n>>8), byte(n))
	default:
		b = append(b, mpStr32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, v...)
}

// appendMapHeader appends the shortest msgpack map header for n pairs.
func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, mpFixMap|byte(n))
	case n <= 0xffff:
		return append(b, mpMap16, byte(n>>8), byte(n))
	default:
		return append(b, mpMap32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// AppendBool appends a msgpack bool.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
}

// AppendUint appends v as the shortest msgpack unsigned integer.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, mpUint8, byte(v))
	case v <= 0xffff:
		return append(b, mpUint16, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(b, mpUint32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		b = append(b, mpUint64)
		return binary.BigEndian.AppendUint64(b, v)
	}
}

// AppendInt appends v as the shortest msgpack integer.
func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= -128:
		return append(b, mpInt8, byte(v))
	case v >= -32768:
		return append(b, mpInt16, byte(v>>8), byte(v))
	case v >= -2147483648:
		return append(b, mpInt32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		b = append(b, mpInt64)
		return binary.BigEndian.AppendUint64(b, uint64(v))
	}
}

// AppendRecord appends one [key, value] record.
func AppendRecord(b []byte, key, value []byte) []byte {
	b = append(b, mpFixArray|2)
	b = AppendBin(b, key)
	return AppendBin(b, value)
}

// RecordSize is the encoded size of a [key, value] record.
func RecordSize(key, value []byte) int {
	return 1 + BinHeaderSize(len(key)) + len(key) + BinHeaderSize(len(value)) + len(value)
}

// Decoder reads msgpack values from a byte slice without allocating. Byte
// strings are returned as sub-slices of the input. The zero value decodes
// nothing; use NewDecoder or Reset.
type Decoder struct {
	buf []byte
	off int
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset makes d read b from its start.
func (d *Decoder) Reset(b []byte) { d.buf, d.off = b, 0 }

// Offset is the number of bytes consumed so far.
func (d *Decoder) Offset() int { return d.off }

// Remaining is the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

func (d *Decoder) errf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrMalformed, d.off, fmt.Sprintf(format, args...))
}

func (d *Decoder) need(n int) error {
	if n < 0 || len(d.buf)-d.off < n {
		return d.errf("need %d more bytes, have %d", n, len(d.buf)-d.off)
	}
	return nil
}

func (d *Decoder) readN(n int) uint64 {
	var v uint64
	for i := 0; i < n; i++ {
		v = v<<8 | uint64(d.buf[d.off+i])
	}
	d.off += n
	return v
}

// ArrayLen reads an array header and returns its item count.
func (d *Decoder) ArrayLen() (int, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.buf[d.off]
	switch {
	case c&0xf0 == mpFixArray:
		d.off++
		return int(c & 0x0f), nil
	case c == mpArray16:
		if err := d.need(3); err != nil {
			return 0, err
		}
		d.off++
		return int(d.readN(2)), nil
	case c == mpArray32:
		if err := d.need(5); err != nil {
			return 0, err
		}
		d.off++
		n := d.readN(4)
		// Every item takes at least one byte: a count past the end is a lie.
		if left := len(d.buf) - d.off; n > uint64(left) {
			d.off -= 5
			return 0, d.errf("array header promises %d items but only %d bytes follow", n, left)
		}
		return int(n), nil
	}
	return 0, d.errf("expected array, found 0x%02x", c)
}

// MapLen reads a map header and returns its number of key-value pairs.
// Only control messages (Init) are maps; batches never are.
func (d *Decoder) MapLen() (int, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.buf[d.off]
	var n uint64
	switch {
	case c&0xf0 == mpFixMap:
		d.off++
		return int(c & 0x0f), nil
	case c == mpMap16:
		if err := d.need(3); err != nil {
			return 0, err
		}
		d.off++
		n = d.readN(2)
	case c == mpMap32:
		if err := d.need(5); err != nil {
			return 0, err
		}
		d.off++
		n = d.readN(4)
	default:
		return 0, d.errf("expected map, found 0x%02x", c)
	}
	// Every pair takes at least two bytes: a count past the end is a lie.
	if left := len(d.buf) - d.off; n > uint64(left)/2 {
		return 0, d.errf("map header promises %d pairs but only %d bytes follow", n, left)
	}
	return int(n), nil
}

// Nil consumes a nil and reports whether there was one.
func (d *Decoder) Nil() bool {
	if d.off < len(d.buf) && d.buf[d.off] == mpNil {
		d.off++
		return true
	}
	return false
}

// str reads a str or bin as a string (a copy).
func (d *Decoder) str() (string, error) {
	p, err := d.Bytes()
	return string(p), err
}

// Bytes reads a bin or str and returns its payload as a sub-slice.
func (d *Decoder) Bytes() ([]byte, error) {
	// Fast path: bin8, the encoding of nearly every key and value.
	if off := d.off; off+2 <= len(d.buf) && d.buf[off] == mpBin8 {
		end := off + 2 + int(d.buf[off+1])
		if end <= len(d.buf) {
			d.off = end
			return d.buf[off+2 : end : end], nil
		}
	}
	return d.bytesSlow()
}

func (d *Decoder) bytesSlow() ([]byte, error) {
	if err := d.need(1); err != nil {
		return nil, err
	}
	c := d.buf[d.off]
	var hdr, n int
	switch {
	case c == mpBin8 || c == mpStr8:
		hdr = 2
	case c == mpBin16 || c == mpStr16:
		hdr = 3
	case c == mpBin32 || c == mpStr32:
		hdr = 5
	case c&0xe0 == mpFixStr:
		hdr, n = 1, int(c&0x1f)
	default:
		return nil, d.errf("expected bin or str, found 0x%02x", c)
	}
	if err := d.need(hdr); err != nil {
		return nil, err
	}
	start := d.off
	d.off++
	if hdr > 1 {
		n = int(d.readN(hdr - 1))
	}
	if err := d.need(n); err != nil {
		d.off = start
		return nil, err
	}
	p := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return p, nil
}

// Bool reads a bool.
func (d *Decoder) Bool() (bool, error) {
	if err := d.need(1); err != nil {
		return false, err
	}
	switch d.buf[d.off] {
	case mpTrue:
		d.off++
		return true, nil
	case mpFalse:
		d.off++
		return false, nil
	}
	return false, d.errf("expected bool, found 0x%02x", d.buf[d.off])
}

// Int reads any msgpack integer that fits an int64.
func (d *Decoder) Int() (int64, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.buf[d.off]
	if c < 0x80 {
		d.off++
		return int64(c), nil
	}
	if c >= 0xe0 {
		d.off++
		return int64(int8(c)), nil
	}
	var size int
	signed := false
	switch c {
	case mpUint8:
		size = 1
	case mpUint16:
		size = 2
	case mpUint32:
		size = 4
	case mpUint64:
		size = 8
	case mpInt8:
		size, signed = 1, true
	case mpInt16:
		size, signed = 2, true
	case mpInt32:
		size, signed = 4, true
	case mpInt64:
		size, signed = 8, true
	default:
		return 0, d.errf("expected integer, found 0x%02x", c)
	}
	if err := d.need(1 + size); err != nil {
		return 0, err
	}
	d.off++
	v := d.readN(size)
	if !signed {
		if v > 1<<63-1 {
			d.off -= 1 + size
			return 0, d.errf("integer %d overflows int64", v)
		}
		return int64(v), nil
	}
	shift := 64 - 8*size
	return int64(v<<shift) >> shift, nil
}

// maxSkipDepth bounds the nesting Skip follows, so hostile input cannot
// exhaust the stack.
const maxSkipDepth = 16

// Skip skips one msgpack value of any kind: nil, bool, integers, floats,
// bin/str, ext, and arrays and maps of those (nested at most 16 deep).
func (d *Decoder) Skip() error { return d.skip(0) }

func (d *Decoder) skip(depth int) error {
	if depth > maxSkipDepth {
		return d.errf("arrays nested deeper than %d", maxSkipDepth)
	}
	if err := d.need(1); err != nil {
		return err
	}
	c := d.buf[d.off]
	switch {
	case c == mpNil || c == mpTrue || c == mpFalse:
		d.off++
		return nil
	case c < 0x80 || c >= 0xe0 || (c >= mpUint8 && c <= mpInt64):
		_, err := d.Int()
		return err
	case c&0xf0 == mpFixArray || c == mpArray16 || c == mpArray32:
		n, err := d.ArrayLen()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case c&0xf0 == mpFixMap || c == mpMap16 || c == mpMap32:
		n, err := d.MapLen()
		if err != nil {
			return err
		}
		for i := 0; i < 2*n; i++ {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case c == mpFloat32 || c == mpFloat64:
		return d.skipN(1 + 4<<(c-mpFloat32))
	case c >= mpFixExt1 && c <= mpFixExt16: // type byte and 1, 2, 4, 8 or 16 bytes
		return d.skipN(2 + 1<<(c-mpFixExt1))
	case c >= mpExt8 && c <= mpExt32: // length, type byte, payload
		size := 1 << (c - mpExt8)
		if err := d.need(1 + size); err != nil {
			return err
		}
		start := d.off
		d.off++
		n := d.readN(size)
		if n > uint64(len(d.buf)) {
			d.off = start
			return d.errf("ext of %d bytes past the end", n)
		}
		if err := d.skipN(1 + int(n)); err != nil {
			d.off = start
			return err
		}
		return nil
	default:
		_, err := d.Bytes()
		return err
	}
}

// skipN skips n bytes, all of which must be there.
func (d *Decoder) skipN(n int) error {
	if err := d.need(n); err != nil {
		return err
	}
	d.off += n
	return nil
}

// End returns an error unless every byte has been consumed.
func (d *Decoder) End() error {
	if d.off != len(d.buf) {
		return d.errf("%d unexpected trailing bytes", len(d.buf)-d.off)
	}
	return nil
}
