package wmr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/wmr-dev/wmr/abi"
)

func wordCount() Job {
	sum := func(key []byte, values *Values, emit *Emitter) error {
		n, err := values.SumInts()
		if err != nil {
			return err
		}
		emit.EmitInt(key, n)
		return nil
	}
	return Job{
		Map: func(_, line []byte, emit *Emitter) error {
			for _, w := range strings.FieldsFunc(string(line), func(r rune) bool { return !unicode.IsLetter(r) }) {
				emit.EmitString(w, "1")
			}
			return nil
		},
		Reduce:  sum,
		Combine: sum,
	}
}

func lines(text ...string) []Pair {
	var ps []Pair
	off := 0
	for _, l := range text {
		k := binary.BigEndian.AppendUint64(nil, uint64(off))
		ps = append(ps, Pair{k, []byte(l)})
		off += len(l) + 1
	}
	return ps
}

func render(ps []Pair) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s=%s ", p.Key, p.Value)
	}
	return strings.TrimSpace(b.String())
}

func TestRunLocalWordCount(t *testing.T) {
	out, err := RunLocal(wordCount(), lines("the cat", "the dog, the END", "Ünïcode ünïcode"), LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "END=1 cat=1 dog=1 the=3 Ünïcode=1 ünïcode=1"
	if got := render(out); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// A key with many values streams through next_values in small pieces.
func TestValuesStreamAcrossContinuations(t *testing.T) {
	const n = 100_000
	in := make([]string, n)
	for i := range in {
		in[i] = "k"
	}
	job := wordCount()
	job.Combine = nil
	out, err := RunLocal(job, lines(in...), LocalOptions{ChunkValues: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(out); got != fmt.Sprintf("k=%d", n) {
		t.Fatalf("got %s", got)
	}
}

func TestErrorsCarryRecordIndex(t *testing.T) {
	job := Job{
		Map: func(_, v []byte, _ *Emitter) error {
			if bytes.Equal(v, []byte("bad")) {
				return fmt.Errorf("cannot parse %q", v)
			}
			return nil
		},
		Reduce: func([]byte, *Values, *Emitter) error { return nil },
	}
	_, err := RunLocal(job, lines("ok", "ok", "bad"), LocalOptions{})
	if err == nil || err.Error() != `record 2: cannot parse "bad"` {
		t.Fatalf("err = %v", err)
	}
	job.Map = func(_, v []byte, _ *Emitter) error {
		if len(v) == 3 {
			panic("boom")
		}
		return nil
	}
	_, err = RunLocal(job, lines("ok", "bad"), LocalOptions{})
	if err == nil || err.Error() != "record 1: panic: boom" {
		t.Fatalf("panic err = %v", err)
	}
}

func TestPartitionAndParams(t *testing.T) {
	job := Job{
		Init: func(tc *TaskContext) error {
			if tc.Param("x") != "y" {
				return fmt.Errorf("param x = %q", tc.Param("x"))
			}
			return nil
		},
		Map: func(_, v []byte, e *Emitter) error { e.Emit(v, nil); return nil },
		Reduce: func(k []byte, _ *Values, e *Emitter) error {
			e.EmitInt(k, int64(Task().Partition))
			return nil
		},
		Partition: func(key []byte, n int) int { return int(key[0]-'a') % n },
	}
	out, err := RunLocal(job, lines("a", "b", "c", "d"), LocalOptions{Reducers: 2, Params: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(out); got != "a=0 c=0 b=1 d=1" {
		t.Fatalf("got %s", got)
	}
	_, err = RunLocal(job, lines("a"), LocalOptions{})
	if err == nil || !strings.Contains(err.Error(), `init: param x = ""`) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{{"0", 0, true}, {"42", 42, true}, {"-7", -7, true}, {"+3", 3, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"", 0, false}, {"-", 0, false}, {"1x", 0, false}} {
		got, err := ParseInt([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseInt(%q) = %d, %v", c.in, got, err)
		}
	}
}

// BenchmarkMapEmit measures the SDK's per-record cost: decoding a host
// batch, calling Map, and encoding emitted pairs (a fake host consumes
// them). The map function splits on spaces without allocating.
func BenchmarkMapEmit(b *testing.B) {
	one := []byte("1")
	job := Job{
		Map: func(_, line []byte, emit *Emitter) error {
			start := 0
			for i, c := range line {
				if c == ' ' {
					emit.Emit(line[start:i], one)
					start = i + 1
				}
			}
			emit.Emit(line[start:], one)
			return nil
		},
		Reduce: func([]byte, *Values, *Emitter) error { return nil },
	}
	g := newGuest(discardHost{})
	g.job = &job
	line := []byte("the quick brown fox jumps over the lazy dog and keeps running far away")
	recs := make([]Pair, 1000)
	for i := range recs {
		recs[i] = Pair{make([]byte, 8), line}
	}
	batch := newBatch(recs)
	b.SetBytes(int64(len(line) * len(recs)))
	b.ReportAllocs()
	for b.Loop() {
		g.mapBatch(batch)
	}
}

// BenchmarkSumInts measures combining/reducing decimal values.
func BenchmarkSumInts(b *testing.B) {
	g := newGuest(discardHost{})
	var w abi.ChunkWriter
	w.Reset()
	w.BeginGroup([]byte("k"))
	for i := 0; i < 10000; i++ {
		w.AddValue([]byte("17"))
	}
	w.EndGroup(false)
	chunk := w.Bytes()
	sum := func(k []byte, v *Values, e *Emitter) error {
		n, err := v.SumInts()
		e.EmitInt(k, n)
		return err
	}
	job := Job{Map: func(_, _ []byte, _ *Emitter) error { return nil }, Reduce: sum}
	g.job = &job
	b.ReportAllocs()
	for b.Loop() {
		g.reduceChunk(chunk, sum)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/value")
}

type discardHost struct{}

func (discardHost) emit([]byte)                  {}
func (discardHost) nextValues([]byte) int32      { return 0 }
func (discardHost) fail([]byte)                  {}
func (discardHost) log(int32, []byte)            {}
func (discardHost) counter(name []byte, d int64) {}

func TestSumIntsMixedValues(t *testing.T) {
	job := Job{
		Map: func(_, v []byte, e *Emitter) error { e.Emit([]byte("k"), v); return nil },
		Reduce: func(k []byte, vs *Values, e *Emitter) error {
			n, err := vs.SumInts()
			if err != nil {
				return err
			}
			e.EmitInt(k, n)
			return nil
		},
	}
	in := []string{"1", "-2", "+3", "1234567890123456789", "-40", "0"}
	for _, chunk := range []int{1, 2, 1024} {
		out, err := RunLocal(job, lines(in...), LocalOptions{ChunkValues: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if got := render(out); got != "k=1234567890123456751" {
			t.Fatalf("chunk %d: got %s", chunk, got)
		}
	}
	_, err := RunLocal(job, lines("1", "x"), LocalOptions{})
	if err == nil || !strings.Contains(err.Error(), `"x" is not an integer`) {
		t.Fatalf("err = %v", err)
	}
}

func TestWords(t *testing.T) {
	cases := []struct {
		line string
		want []string
	}{
		{"", nil},
		{"hello, wörld", []string{"hello", "wörld"}},
		{"a1bc d\u00e9f\u2160g", []string{"a", "bc", "d\u00e9f", "g"}},
		{"caf\xe9 ok\xc3", []string{"caf", "ok"}}, // invalid UTF-8 separates words
		{"日本語 λόγος", []string{"日本語", "λόγος"}},
		{"  trailing", []string{"trailing"}},
	}
	for _, c := range cases {
		var got []string
		for w := range Words([]byte(c.line)) {
			got = append(got, string(w))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Words(%q) = %q, want %q", c.line, got, c.want)
		}
	}
	// Stopping early stops the scan.
	n := 0
	for range Words([]byte("a b c")) {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("break after the first word: %d words", n)
	}
	for r := rune(-1); r < 0x3000; r++ {
		if IsLetter(r) != unicode.IsLetter(r) {
			t.Fatalf("IsLetter(%U) disagrees with unicode.IsLetter", r)
		}
	}
}

// The in-module combining table: with the ready-made Sum and with a
// combiner of its own (which keeps values in the table), any budget (one
// that flushes on nearly every emit, so keys arrive across flushes) gives
// the output of the job without a combiner, and a combiner error fails
// the map call.
// Keys of every length up to 40 bytes that share their first 16 bytes or
// differ only in their last byte stay apart in the table (which compares
// a key's first 16 bytes as two words), whether the key's slice has
// unrelated bytes past its end within its capacity or none.
func TestCombineTableKeepsKeysOfEveryLengthApart(t *testing.T) {
	var in []string
	for round := 0; round < 3; round++ {
		for n := 1; n <= 40; n++ {
			for _, last := range "xy" {
				in = append(in, strings.Repeat("q", n-1)+string(last)+"|zzzzzzzzzzzzzzzzzzzz")
			}
		}
		for k := 0; k < 2000; k++ { // the same first 16 bytes: their probes cross
			in = append(in, fmt.Sprintf("%s%04d|zz", strings.Repeat("q", 16), k))
		}
	}
	emitBoth := func(_, line []byte, emit *Emitter) error {
		key := line[:bytes.IndexByte(line, '|')] // capacity runs on into "|zzz..."
		emit.Emit(key, []byte("1"))
		exact := make([]byte, len(key)) // capacity: the key alone
		copy(exact, key)
		emit.Emit(exact, []byte("1"))
		return nil
	}
	want, err := RunLocal(Job{Map: emitBoth, Reduce: Sum}, lines(in...), LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2080 {
		t.Fatalf("the plain run found %d keys, want 2080", len(want))
	}
	got, err := RunLocal(Job{Map: emitBoth, Reduce: Sum, Combine: Sum}, lines(in...), LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if render(got) != render(want) {
		t.Fatalf("with the table:\n%s\nwant\n%s", render(got), render(want))
	}
}

func TestCombineTableIsExact(t *testing.T) {
	var in []string
	for i := 0; i < 3000; i++ {
		in = append(in, fmt.Sprintf("w%c w%c x%c the", 'a'+i%26, 'a'+i%7, 'a'+i%3))
	}
	concat := func(key []byte, values *Values, emit *Emitter) error {
		var all []byte
		for values.Next() {
			all = append(all, values.Value()...)
			all = append(all, '+')
		}
		emit.Emit(key, all)
		return nil
	}
	countChars := func(key []byte, values *Values, emit *Emitter) error {
		n := 0
		for values.Next() {
			n += bytes.Count(values.Value(), []byte("1"))
		}
		emit.EmitInt(key, int64(n))
		return nil
	}
	words := wordCount().Map
	for _, job := range []struct {
		name string
		job  Job
	}{
		{"Sum", Job{Map: words, Reduce: Sum, Combine: Sum}},
		{"own combiner", Job{Map: words, Reduce: countChars, Combine: concat}},
	} {
		plain := job.job
		plain.Combine = nil
		want, err := RunLocal(plain, lines(in...), LocalOptions{Reducers: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, budget := range []string{"", "200", "5000"} {
			opt := LocalOptions{Reducers: 3, Params: map[string]string{}}
			if budget != "" {
				opt.Params[combineBudgetParam] = budget
			}
			got, err := RunLocal(job.job, lines(in...), opt)
			if err != nil {
				t.Fatalf("%s, budget %q: %v", job.name, budget, err)
			}
			if render(got) != render(want) {
				t.Fatalf("%s, budget %q: got %s\nwant %s", job.name, budget, render(got), render(want))
			}
		}
	}
	bad := Job{Map: func(_, _ []byte, emit *Emitter) error { emit.EmitString("k", "one"); return nil }, Reduce: Sum, Combine: Sum}
	if _, err := RunLocal(bad, lines("x"), LocalOptions{}); err == nil || !strings.Contains(err.Error(), `"one" is not an integer`) {
		t.Fatalf("a value Sum cannot read: %v", err)
	}
}

// referenceWords is Words written plainly, one rune at a time.
func referenceWords(line []byte) []string {
	var out []string
	start := -1
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		if unicode.IsLetter(r) {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			out = append(out, string(line[start:i]))
			start = -1
		}
		i += size
	}
	if start >= 0 {
		out = append(out, string(line[start:]))
	}
	return out
}

// Words' 8-bytes-at-a-time scan agrees with the plain definition on
// random bytes: ASCII (with the neighbours of the letter ranges),
// multi-byte letters and non-letters, invalid UTF-8, words across 16-byte
// boundaries, lines of every length up to about 100 bytes.
func TestWordsMatchesReference(t *testing.T) {
	pieces := []string{"a", "Z", " ", ",", "1", "é", "日", "\u2160", "λ", "\xe9", "\xc3", "\xff", "\u00a0", "ß",
		"word", "abcdefghijklmnopqrstu", "@", "[", "`", "{", "\t"}
	rng := rand.New(rand.NewPCG(1, 2))
	g := newGuest(nil)
	t.Cleanup(func() { batchLo, batchLen, batchReach = 0, 0, 0 })
	for range 20000 {
		var b []byte
		for range rng.IntN(40) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		// Words reads past a line's end where its slice has capacity, or
		// where the line lies in the host's batch (the module's input
		// buffer, which the line's slice gives no capacity of): letters
		// there must not count.
		followed := append(append([]byte(nil), b...), "lettersafter"[:rng.IntN(13)]...)
		inBatch := g.alloc(int32(len(followed)))
		copy(inBatch, followed)
		for _, line := range [][]byte{b, followed[:len(b)], inBatch[:len(b):len(b)]} {
			var got []string
			for w := range Words(line) {
				got = append(got, string(w))
			}
			if want := referenceWords(b); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Words(%q) = %q, want %q", b, got, want)
			}
		}
	}
}

// The table's slots spread keys that differ only late in their bytes
// (user_000123 and user_000124, ids with a long common prefix): a hash
// whose low bits saw only a key's first bytes once put 20,000 such keys
// 40 slots, on average, from where their probes begin.
func TestCombineTableSpreadsKeysThatDifferLate(t *testing.T) {
	for _, format := range []string{"user_%06d", "%d", "abcdefg%d", "aaaaaaaaaa%d", "a long common prefix %d", "%08d-suffix"} {
		tab := &combineTable{sum: true, budget: 1 << 30}
		tab.setSlots(make([]combineEntry, 1024))
		for k := 0; k < 20000; k++ {
			key := []byte(fmt.Sprintf(format, k))
			tab.entry(key[:len(key):len(key)])
		}
		mask := uint64(len(tab.slots) - 1)
		total := uint64(0)
		for i := range tab.slots {
			e := &tab.slots[i]
			if e.used == 0 {
				continue
			}
			home := keyHash(e.k0, e.k1, tab.keys[e.koff:e.koff+e.used-1]) & mask
			total += (uint64(i) - home) & mask
		}
		if avg := float64(total) / float64(len(tab.order)); avg > 2 {
			t.Errorf("keys %q: %.1f slots on average from their home slot, want at most 2", format, avg)
		}
	}
}

// keyWords reads a key's 16 bytes at once where its slice has the
// capacity or it lies in the host's batch, and masks off what is not the
// key's; elsewhere it declines (and keyWordsCopied reads the key).
func TestKeyWordsReadsOnlyTheKey(t *testing.T) {
	g := newGuest(nil)
	t.Cleanup(func() { batchLo, batchLen, batchReach = 0, 0, 0 })
	batch := g.alloc(64)
	for i := range batch {
		batch[i] = byte('a' + i%26)
	}
	for n := 0; n <= 16; n++ {
		for at := 0; at+n <= 64; at++ {
			key := batch[at : at+n : at+n]
			k0, k1, ok := keyWords(key, n)
			if !ok {
				t.Fatalf("key of %d bytes at %d of the batch: not read at once", n, at)
			}
			if w0, w1 := keyWordsCopied(key); k0 != w0 || k1 != w1 {
				t.Fatalf("key %q: words %x %x, want %x %x", key, k0, k1, w0, w1)
			}
		}
		outside := []byte("abcdefghijklmnop")[:n:n]
		if _, _, ok := keyWords(outside, n); ok && n < 16 {
			t.Fatalf("key of %d bytes outside the batch with capacity %d: read 16 bytes at once", n, cap(outside))
		}
	}
}

// Emit's own path for a combine table with Sum (hand-written WebAssembly
// in a module, emit_wasm.s) counts exactly what the table would: keys of
// every length from 0 to 20 bytes, at every place in the host's batch up
// to its very end, outside it with and without 16 bytes of capacity,
// values of one digit and others. In a module, a key already in the table
// is counted without handing the pair to emitPair.
func TestEmitCountsEveryKindOfPair(t *testing.T) {
	g, h := sumMapTask(t)
	t.Cleanup(func() { batchLo, batchLen, batchReach = 0, 0, 0 })
	batch := g.alloc(200)
	for i := range batch {
		batch[i] = "abcdefghijklmnopqrstuvwxyz0123456789\x00\x00"[i%38] // NULs: keys alike but for their length
	}
	type pair struct{ key, value []byte }
	var pairs []pair
	for n := 0; n <= 20; n++ {
		for at := 0; at+n <= len(batch); at += 7 {
			pairs = append(pairs, pair{batch[at : at+n : at+n], []byte("1")})
		}
		for at := len(batch) - n - 3; at <= len(batch)-n; at++ { // up to the batch's end
			pairs = append(pairs, pair{batch[at : at+n : at+n], []byte("3")})
		}
		exact := bytes.Clone(batch[:n]) // outside the batch, little capacity
		roomy := append(make([]byte, 0, 32), batch[:n]...)
		pairs = append(pairs, pair{exact, []byte("0")}, pair{roomy, []byte("9")}, pair{exact, []byte("12")}, pair{roomy, []byte("-4")})
	}
	want := map[string]int64{}
	emitAll := func() {
		for _, p := range pairs {
			g.emitter.Emit(p.key, p.value)
			n, _ := ParseInt(p.value)
			want[string(p.key)] += n
		}
	}
	emitAll()
	before := handedOver
	emitAll() // every key is in the table now
	// What Emit counts itself: one digit, a key of up to 16 bytes whose 16
	// bytes from its start may be read (keyWords).
	counted := func(p pair) bool {
		readable := cap(p.key) >= 16 || uintptr(unsafe.Pointer(unsafe.SliceData(p.key)))-batchLo < batchReach
		return len(p.value) == 1 && p.value[0]-'0' <= 9 && len(p.key) <= 16 && readable
	}
	others := 0
	for _, p := range pairs {
		if !counted(p) {
			others++
		}
	}
	if others == 0 || others == len(pairs) {
		t.Fatalf("%d of %d pairs are not for Emit's own path: the test no longer tries both paths", others, len(pairs))
	}
	if d := handedOver - before; runtime.GOARCH == "wasm" && d != others {
		t.Errorf("%d pairs of keys already in the table were handed to emitPair, want %d", d, others)
	}
	if g.finish() != abi.StatusOK {
		t.Fatal(h.err)
	}
	got := map[string]int64{}
	for _, r := range h.take() {
		n, err := ParseInt(r.Value)
		if err != nil {
			t.Fatalf("key %q: value %q", r.Key, r.Value)
		}
		got[string(r.Key)] += n
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sums differ:\n got %v\nwant %v", got, want)
	}
}

// nextWord (hand-written WebAssembly in a module) agrees with
// asciiWordGo from every start, for every line length and every number
// of readable bytes past it, on bytes around the letter ranges' edges.
func TestASCIIWordMatchesGo(t *testing.T) {
	alphabet := []byte("azAZ@[`{ 09\x00\x7f\x80\xc3\xa9\xff")
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 48)
	for range 300 {
		for i := range buf {
			buf[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(2) == 0 { // long runs of letters, across 8-byte windows
			for i := range buf {
				if buf[i] < 'a' || buf[i] > 'z' {
					buf[i] = 'q'
				}
				if rng.IntN(12) == 0 {
					buf[i] = ' '
				}
			}
		}
		p := unsafe.Pointer(&buf[0])
		for n := 0; n <= 40; n++ {
			for readable := n; readable <= len(buf); readable += 1 + readable%3 {
				for i := 0; i <= n; i++ {
					s, e := nextWord(p, i, uint64(n)|uint64(readable)<<32)
					ws, we := asciiWordGo(p, i, n, readable)
					if s != ws || e != we {
						t.Fatalf("nextWord(%q, i %d, n %d, readable %d) = %d, %d; want %d, %d", buf[:n], i, n, readable, s, e, ws, we)
					}
				}
			}
		}
	}
}

// newlineIn (hand-written WebAssembly in a module) finds the first
// newline as bytes.IndexByte does, for every length and every number of
// readable bytes past it, with newlines past the end that must not count.
func TestNewlineInMatchesIndexByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 64)
	for range 2000 {
		for i := range buf {
			buf[i] = "ab\n\x0b\t\x8a\x0a\x00"[rng.IntN(8)]
			if rng.IntN(3) > 0 {
				buf[i] = 'x'
			}
		}
		p := unsafe.Pointer(&buf[0])
		for n := 0; n <= 48; n++ {
			for readable := n; readable <= len(buf); readable += 1 + readable%7 {
				if got, want := newlineIn(p, n, readable), bytes.IndexByte(buf[:n], '\n'); got != want {
					t.Fatalf("newlineIn(%q, n %d, readable %d) = %d, want %d", buf[:n], n, readable, got, want)
				}
			}
		}
	}
}

// benchText is about 4 MB of text lines of words drawn from a vocabulary
// of 20,000 (the bench corpus's shape: about 10 words a line, 20,000
// distinct), as slices of one buffer, the way a module sees a host batch.
func benchText(b *testing.B) (lines [][]byte, words int) {
	rng := rand.New(rand.NewPCG(7, 8))
	vocab := make([]string, 20000)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(w)
	}
	var text []byte
	for len(text) < 4<<20 {
		start := len(text)
		for k := range 10 {
			if k > 0 {
				text = append(text, " ,."[rng.IntN(3)])
			}
			text = append(text, vocab[rng.IntN(len(vocab))]...)
			words++
		}
		lines = append(lines, text[start:])
		text = append(text, '\n')
	}
	buf := text[:len(text):len(text)]
	at := 0
	for i, l := range lines { // re-slice: every line with the buffer's rest as capacity
		lines[i] = buf[at : at+len(l)]
		at += len(l) + 1
	}
	return lines, words
}

// BenchmarkWords is Words over text lines, in ns per word (make bench
// runs it natively and inside wazero, where nextWord is WebAssembly).
func BenchmarkWords(b *testing.B) {
	lines, words := benchText(b)
	n := 0
	for b.Loop() {
		for _, l := range lines {
			for w := range Words(l) {
				n += len(w)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*words), "ns/word")
}

// BenchmarkEmitCounted is a word count's Emit(word, "1") into the combine
// table with Sum, every word already in it, in ns per word.
func BenchmarkEmitCounted(b *testing.B) {
	lines, words := benchText(b)
	g, _ := sumMapTask(b)
	var keys [][]byte
	for _, l := range lines {
		for w := range Words(l) {
			keys = append(keys, w)
		}
	}
	one := []byte("1")
	for _, k := range keys {
		g.emitter.Emit(k, one)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, k := range keys {
			g.emitter.Emit(k, one)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*words), "ns/word")
}

// sumMapTask is a guest in a map task of a job with Sum as its combiner
// (so Emit goes to the combine table), on a local host.
func sumMapTask(tb testing.TB) (*guest, *localHost) {
	h := &localHost{}
	g := newGuest(h)
	h.g = g
	g.job = &Job{Map: func(_, _ []byte, _ *Emitter) error { return nil }, Reduce: Sum, Combine: Sum}
	init, err := abi.EncodeInit(&abi.Init{ABI: abi.Version, JobID: "t", TaskID: "m", TaskKind: abi.TaskMap, NumPartitions: 1, Finish: true})
	if err != nil {
		tb.Fatal(err)
	}
	if g.init(init) < 0 {
		tb.Fatal(h.err)
	}
	return g, h
}
