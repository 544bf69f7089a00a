// Package gensort generates the records of the sort benchmark (Hadoop's
// TeraGen, Chris Nyberg's gensort): 100-byte records whose first 10 bytes
// are the key, the same bytes for the same row numbers. Row r's record is
// made from f^(r+1)(0), where f is the 128-bit linear congruential
// generator x -> (a*x + c) mod 2^128 with a = 0x2360ed051fc65da44385df649fccf645
// and c = 0x4a696d47726179524950202020202001, reached in at most 128
// steps by composing f^(2^i).
package gensort

import "math/bits"

// RecordSize is the size of one record; KeySize the size of its key.
const (
	RecordSize = 100
	KeySize    = 10
)

// u128 is an unsigned 128-bit number.
type u128 struct{ hi, lo uint64 }

func (x u128) mul(y u128) u128 {
	hi, lo := bits.Mul64(x.lo, y.lo)
	hi += x.hi*y.lo + x.lo*y.hi
	return u128{hi, lo}
}

func (x u128) add(y u128) u128 {
	lo, carry := bits.Add64(x.lo, y.lo, 0)
	return u128{x.hi + y.hi + carry, lo}
}

// step is f^(2^i): x -> a*x + c.
type step struct{ a, c u128 }

var steps = func() (s [128]step) {
	s[0] = step{a: u128{0x2360ed051fc65da4, 0x4385df649fccf645}, c: u128{0x4a696d4772617952, 0x4950202020202001}}
	for i := 1; i < 128; i++ { // f^(2^i) = f^(2^(i-1)) composed with itself
		p := s[i-1]
		s[i] = step{a: p.a.mul(p.a), c: p.a.mul(p.c).add(p.c)}
	}
	return s
}()

// Generator produces consecutive records from a row number.
type Generator struct {
	rand, row u128
}

// New starts at row.
func New(row uint64) *Generator {
	var x u128
	for i := 0; i < 64; i++ { // x = f^row(0)
		if row&(1<<i) != 0 {
			x = steps[i].a.mul(x).add(steps[i].c)
		}
	}
	return &Generator{rand: x, row: u128{0, row}}
}

const hexDigits = "0123456789ABCDEF"

func (x u128) byteAt(i int) byte { // 0 is the most significant
	if i < 8 {
		return byte(x.hi >> (56 - 8*i))
	}
	return byte(x.lo >> (120 - 8*i))
}

func (x u128) hexAt(i int) byte { // 0 is the most significant digit
	b := x.byteAt(i / 2)
	if i%2 == 0 {
		b >>= 4
	}
	return hexDigits[b&15]
}

// Next writes the next row's record into rec (RecordSize bytes).
func (g *Generator) Next(rec []byte) {
	g.rand = steps[0].a.mul(g.rand).add(steps[0].c)
	for i := range KeySize {
		rec[i] = g.rand.byteAt(i)
	}
	rec[10], rec[11] = 0x00, 0x11
	for i := range 32 {
		rec[12+i] = g.row.hexAt(i)
	}
	rec[44], rec[45], rec[46], rec[47] = 0x88, 0x99, 0xAA, 0xBB
	for i := range 12 {
		d := g.rand.hexAt(20 + i)
		rec[48+4*i], rec[49+4*i], rec[50+4*i], rec[51+4*i] = d, d, d, d
	}
	rec[96], rec[97], rec[98], rec[99] = 0xCC, 0xDD, 0xEE, 0xFF
	g.row = g.row.add(u128{0, 1})
}
