package jobtest

import (
	"fmt"
	"math/big"
)

// GenSort is the sort benchmark's record generator written
// plainly from its published description, with big integers and no
// skip-ahead: row r's record comes from x_{r+1}, where x_0 = 0 and
// x_{n+1} = (a*x_n + c) mod 2^128; key = the top 10 bytes of x; then
// 00 11, the row number as 32 uppercase hex digits, 88 99 AA BB, each of
// hex digits 20..31 of x four times, CC DD EE FF. It returns rows first
// to first+count-1, 100 bytes each (tests and make bench check TeraGen with it).
func GenSort(first, count int) []byte {
	a, _ := new(big.Int).SetString("2360ed051fc65da44385df649fccf645", 16)
	c, _ := new(big.Int).SetString("4a696d47726179524950202020202001", 16)
	mod := new(big.Int).Lsh(big.NewInt(1), 128)
	x := new(big.Int)
	var out []byte
	for r := 0; r < first+count; r++ {
		x.Mul(x, a).Add(x, c).Mod(x, mod)
		if r < first {
			continue
		}
		hex := fmt.Sprintf("%032X", x)
		b := x.FillBytes(make([]byte, 16))
		rec := append([]byte{}, b[:10]...)
		rec = append(rec, 0x00, 0x11)
		rec = append(rec, fmt.Sprintf("%032X", r)...)
		rec = append(rec, 0x88, 0x99, 0xAA, 0xBB)
		for i := 20; i < 32; i++ {
			rec = append(rec, hex[i], hex[i], hex[i], hex[i])
		}
		rec = append(rec, 0xCC, 0xDD, 0xEE, 0xFF)
		out = append(out, rec...)
	}
	return out
}
