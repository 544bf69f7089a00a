package kv

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func randomRecords(rng *rand.Rand, n int) [][2][]byte {
	recs := make([][2][]byte, n)
	for i := range recs {
		for j := range 2 {
			b := make([]byte, rng.IntN(300))
			for k := range b {
				b[k] = byte(rng.IntN(256)) // every byte value, tabs and newlines too
			}
			recs[i][j] = b
		}
	}
	return recs
}

func write(t *testing.T, recs [][2][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range recs {
		if err := w.Add(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written %d, wrote %d", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

func readAll(data []byte, off, end int64) ([][2][]byte, error) {
	r := NewReader(bytes.NewReader(data[off:]), off, end)
	var out [][2][]byte
	for {
		k, v, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
	}
}

// Random binary records round-trip, also read as splits cut anywhere:
// every record comes out exactly once, in order.
func TestRoundTripAndSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := randomRecords(rng, 20000) // about 3 MB: several blocks
	data := write(t, recs)
	got, err := readAll(data, 0, -1)
	if err != nil || len(got) != len(recs) {
		t.Fatalf("read %d of %d records: %v", len(got), len(recs), err)
	}
	for i := range recs {
		if !bytes.Equal(got[i][0], recs[i][0]) || !bytes.Equal(got[i][1], recs[i][1]) {
			t.Fatalf("record %d differs", i)
		}
	}
	for round := range 30 {
		cuts := []int64{0, int64(rng.IntN(len(data))), int64(rng.IntN(len(data))), int64(len(data))}
		if cuts[1] > cuts[2] {
			cuts[1], cuts[2] = cuts[2], cuts[1]
		}
		var all [][2][]byte
		for i := 0; i+1 < len(cuts); i++ {
			start, err := BlockStart(bytes.NewReader(data), cuts[i])
			if err != nil {
				t.Fatal(err)
			}
			part, err := readAll(data, start, cuts[i+1])
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, part...)
		}
		if len(all) != len(recs) {
			t.Fatalf("round %d: splits at %v read %d records, want %d", round, cuts, len(all), len(recs))
		}
	}
}

// Damage is found: a flipped byte anywhere, a cut anywhere, and data that
// is no kv file at all.
func TestDamageIsDetected(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := write(t, randomRecords(rng, 3000))
	for range 200 {
		bad := bytes.Clone(data)
		i := rng.IntN(len(bad))
		bad[i] ^= byte(1 + rng.IntN(255))
		if _, err := readAll(bad, 0, -1); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a flipped byte at %d went unnoticed: %v", i, err)
		}
	}
	for range 50 {
		n := rng.IntN(len(data)-1) + 1
		_, err := readAll(data[:n], 0, -1)
		var ce *CorruptError
		if boundary := isBoundary(data, int64(n)); !boundary && !errors.As(err, &ce) {
			t.Fatalf("cut at %d went unnoticed: %v", n, err)
		}
	}
	if _, err := readAll([]byte("just some text\n"), 0, -1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("text read as kv: %v", err)
	}
}

func isBoundary(data []byte, n int64) bool {
	pos, err := BlockStart(bytes.NewReader(data), n)
	return err == nil && pos == n
}
