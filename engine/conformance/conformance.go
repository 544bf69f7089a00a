package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine/wasmhost"
)

// Options tunes a check run. The zero value is usable.
type Options struct {
	// Params are the job parameters passed to init (a grep needs its
	// pattern); a probe parameter is added to them.
	Params map[string]string
	// MemoryLimit is the memory cap the module runs under (default
	// 64 MiB); the memory check sends an input larger than it.
	MemoryLimit int64
	// Timeout bounds each check (default 20 s): a module that loops is
	// stopped and the check fails.
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = 64 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	return o
}

// Status is the outcome of one check.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one check's outcome: its name, status and a line saying what
// was seen (why it failed, or what passed).
type Result struct {
	Name   string
	Status Status
	Detail string
}

// Many-values check: this many values of one key, streamed to the module
// through next_values.
const manyValues = 200_000

// Sample input for the checks that feed the module records: text a word
// count or grep would see, numbers a sum would see, and bytes no text job
// expects (modules may refuse those, by reporting an error).
var sampleLines = []string{
	"the quick brown fox jumps over the lazy dog",
	"42",
	"",
	"  7 ",
	"Straße café naïve 日本語 λόγος",
	"-3",
	"the end.",
}

// binaryRecords are keys and values no text job expects: empty, NUL bytes,
// invalid UTF-8, 1 MiB.
func binaryRecords() []abi.Record {
	big := bytes.Repeat([]byte("wmr "), 256<<10)
	return []abi.Record{
		{Key: nil, Value: nil},
		{Key: []byte{0}, Value: []byte("a\x00b\x00")},
		{Key: []byte("\xff\xfe"), Value: []byte("caf\xe9 \xc3\x28 \xed\xa0\x80 ok")},
		{Key: offsetKey(7), Value: big},
		{Key: offsetKey(8), Value: []byte("1")},
	}
}

func offsetKey(off uint64) []byte {
	k := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		k[i] = byte(off)
		off >>= 8
	}
	return k
}

// checker holds what the checks share.
type checker struct {
	name string
	wasm []byte
	opts Options
	host *wasmhost.Host
	mod  *wasmhost.Module
	caps int32
	// pairs is the module's own map output on the sample lines it
	// accepts, for realistic reduce input.
	pairs []abi.Record
	// accepted are the sample lines its map accepts.
	accepted []string
}

// Run checks the module and calls report with each result as it is
// known. It returns how many checks failed.
func Run(ctx context.Context, name string, wasm []byte, opts Options, report func(Result)) int {
	opts = opts.withDefaults()
	c := &checker{name: name, wasm: wasm, opts: opts}
	failed := 0
	emit := func(r Result) {
		if r.Status == Fail {
			failed++
		}
		report(r)
	}
	host, err := wasmhost.New(ctx, wasmhost.Config{MemoryLimitBytes: opts.MemoryLimit, CloseOnContextDone: true, MaxOutputBytes: 1 << 30})
	if err != nil {
		emit(Result{"load", Fail, err.Error()})
		return failed
	}
	defer host.Close(ctx)
	c.host = host
	for _, ch := range checks {
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		r := ch.run(c, cctx)
		if cctx.Err() != nil && r.Status == Fail && ctx.Err() == nil {
			r.Detail += fmt.Sprintf(" (the check's %s time limit passed)", opts.Timeout)
		}
		cancel()
		if r.Name == "" {
			r.Name = ch.name
		}
		emit(r)
		if r.Status == Fail && ch.fatal {
			emit(Result{"remaining checks", Skip, "skipped: the module cannot be loaded"})
			break
		}
	}
	return failed
}

type check struct {
	name  string
	fatal bool // later checks need this one to pass
	run   func(*checker, context.Context) Result
}

var checks = []check{
	{"load", true, (*checker).load},
	{"abi version", true, (*checker).version},
	{"init", true, (*checker).init},
	{"empty input", false, (*checker).empty},
	{"map sample text", false, (*checker).sample},
	{"text blocks", false, (*checker).textBlocks},
	{"binary keys and values", false, (*checker).binary},
	{"many values of one key", false, (*checker).manyValues},
	{"warm instance", false, (*checker).warm},
	{"partition vectors", false, (*checker).partitionVectors},
	{"error reporting", false, (*checker).errorReporting},
	{"memory cap", false, (*checker).memoryCap},
}

func pass(format string, args ...any) Result {
	return Result{Status: Pass, Detail: fmt.Sprintf(format, args...)}
}
func fail(format string, args ...any) Result {
	return Result{Status: Fail, Detail: fmt.Sprintf(format, args...)}
}

func (c *checker) load(ctx context.Context) Result {
	mod, err := c.host.Compile(ctx, c.name, c.wasm)
	if err != nil {
		return fail("%v", err)
	}
	c.mod = mod
	var opt []string
	for _, n := range []string{abi.ExportCombine, abi.ExportPartition} {
		if mod.Exports(n) {
			opt = append(opt, n)
		}
	}
	extra := ""
	if len(opt) > 0 {
		extra = "; optional: " + strings.Join(opt, ", ")
	}
	return pass("exports and imports match ABI v%d%s", abi.Version, extra)
}

func (c *checker) version(ctx context.Context) Result {
	inst, err := c.mod.Instantiate(ctx)
	if err != nil {
		return fail("%v", err)
	}
	inst.Close(ctx)
	return pass("wmr_abi_version() = %d", abi.Version)
}

func (c *checker) params() map[string]string {
	p := map[string]string{"wmr_check": "1"}
	for k, v := range c.opts.Params {
		p[k] = v
	}
	return p
}

func (c *checker) mapInit(params map[string]string) *abi.Init {
	return &abi.Init{ABI: abi.Version, JobID: "wmr-check", TaskID: "m-00000", TaskKind: "map", Attempt: 1,
		InputFile: "check.txt", SplitLength: 1 << 20, NumPartitions: 3, Params: params, Finish: true}
}

func (c *checker) reduceInit() *abi.Init {
	return &abi.Init{ABI: abi.Version, JobID: "wmr-check", TaskID: "r-00001", TaskKind: "reduce", Attempt: 1,
		Partition: 1, NumPartitions: 3, Params: c.params(), Finish: true}
}

// fresh instantiates the module and initialises it for a task.
func (c *checker) fresh(ctx context.Context, init *abi.Init) (*wasmhost.Instance, error) {
	inst, err := c.mod.Instantiate(ctx)
	if err != nil {
		return nil, err
	}
	if err := inst.Init(ctx, init); err != nil {
		inst.Close(ctx)
		return nil, err
	}
	return inst, nil
}

func (c *checker) init(ctx context.Context) Result {
	inst, err := c.fresh(ctx, c.mapInit(c.params()))
	if err != nil {
		hint := ""
		if len(c.opts.Params) == 0 {
			hint = " (if the job needs parameters, pass them with --param)"
		}
		return fail("init of a map task failed: %v%s", err, hint)
	}
	caps := inst.Caps()
	inst.Close(ctx)
	c.caps = caps
	if caps&^(abi.CapCombine|abi.CapPartitioner|abi.CapFinish) != 0 { // CapTextBlocks only when offered
		return fail("wmr_init returned %#x, which sets reserved capability bits", caps)
	}
	inst, err = c.fresh(ctx, c.reduceInit())
	if err != nil {
		return fail("init of a reduce task failed: %v", err)
	}
	if inst.Caps() != caps {
		inst.Close(ctx)
		return fail("declares capabilities %#x for a map task but %#x for a reduce task", caps, inst.Caps())
	}
	inst.Close(ctx)
	// Later init messages may carry keys this version does not know, and
	// params may be absent: a guest must take both.
	if len(c.opts.Params) == 0 {
		m := c.mapInit(nil)
		if inst, err = c.fresh(ctx, m); err != nil {
			return fail("init without params failed: %v", err)
		}
		inst.Close(ctx)
	}
	var got []string
	if caps&abi.CapCombine != 0 {
		got = append(got, "combiner")
	}
	if caps&abi.CapPartitioner != 0 {
		got = append(got, "own partitioner")
	}
	if caps&abi.CapFinish != 0 {
		got = append(got, "end-of-task call")
	}
	if len(got) == 0 {
		got = append(got, "none")
	}
	return pass("map and reduce tasks start; capabilities: %s", strings.Join(got, ", "))
}

// sink collects emitted records and checks them against the call's rules.
type sink struct {
	recs []abi.Record
	// onlyKey, when set, is the one key a combine call may emit.
	onlyKey    []byte
	partitions int
	err        error
}

func (s *sink) Emit(key, value []byte, partition int) error {
	if s.onlyKey != nil && !bytes.Equal(key, s.onlyKey) {
		s.err = fmt.Errorf("combiner emitted key %q for key %q (a combiner must emit only the key it is given)", clip(key), clip(s.onlyKey))
		return s.err
	}
	if partition >= 0 && partition >= s.partitions {
		s.err = fmt.Errorf("emitted partition %d of %d", partition, s.partitions)
		return s.err
	}
	s.recs = append(s.recs, abi.Record{Key: bytes.Clone(key), Value: bytes.Clone(value), Partition: partition})
	return nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func batch(recs []abi.Record) []byte {
	var w abi.BatchWriter
	w.Reset()
	for _, r := range recs {
		w.Add(r.Key, r.Value)
	}
	return w.Bytes()
}

func lineRecords(lines []string) []abi.Record {
	var recs []abi.Record
	off := uint64(0)
	for _, l := range lines {
		recs = append(recs, abi.Record{Key: offsetKey(off), Value: []byte(l)})
		off += uint64(len(l)) + 1
	}
	return recs
}

// runMap maps recs on a fresh instance and returns the output.
func (c *checker) runMap(ctx context.Context, recs []abi.Record) ([]abi.Record, error) {
	return c.mapTask(ctx, c.mapInit(c.params()), func(inst *wasmhost.Instance, s *sink) error {
		return inst.Map(ctx, batch(recs), s)
	})
}

// mapTask runs a map task on a fresh instance initialised with init:
// feed's map calls, then the end-of-task call, as the host makes it (a
// module that combines in itself emits there). It returns the output.
func (c *checker) mapTask(ctx context.Context, init *abi.Init, feed func(*wasmhost.Instance, *sink) error) ([]abi.Record, error) {
	inst, err := c.fresh(ctx, init)
	if err != nil {
		return nil, err
	}
	defer inst.Close(ctx)
	s := &sink{partitions: 3}
	if err := feed(inst, s); err != nil {
		return nil, err
	}
	if err := inst.Finish(ctx, s); err != nil {
		return nil, err
	}
	return s.recs, s.err
}

// reduceInput groups records by key in bytewise order, as the host does.
func reduceInput(recs []abi.Record) (keys [][]byte, values map[string][][]byte) {
	values = map[string][][]byte{}
	for _, r := range recs {
		k := string(r.Key)
		if _, ok := values[k]; !ok {
			keys = append(keys, r.Key)
		}
		values[k] = append(values[k], r.Value)
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	return keys, values
}

func chunk(keys [][]byte, values map[string][][]byte) []byte {
	var w abi.ChunkWriter
	w.Reset()
	for _, k := range keys {
		w.BeginGroup(k)
		for _, v := range values[string(k)] {
			w.AddValue(v)
		}
		w.EndGroup(false)
	}
	return w.Bytes()
}

// runReduce reduces (or combines) grouped input on a fresh instance.
func (c *checker) runReduce(ctx context.Context, combine bool, keys [][]byte, values map[string][][]byte) ([]abi.Record, error) {
	init := c.reduceInit()
	if combine {
		init = c.mapInit(c.params())
	}
	return c.runCombineOrReduce(ctx, init, combine, false, keys, values)
}

// combineTaskInit is the init of a combine task of the reduce tree.
func (c *checker) combineTaskInit() *abi.Init {
	return &abi.Init{ABI: abi.Version, JobID: "wmr-check", TaskID: "c1-00000", TaskKind: abi.TaskCombine, Attempt: 1,
		NumPartitions: 3, Params: c.params(), Finish: true}
}

// runCombineOrReduce reduces keys, or combines them key by key, in a
// fresh instance initialised with init; finish adds what the combining
// instance emits at wmr_finish (a map task's module may hold its
// combined output until then; a combine task's output is what its combine
// calls emit: the host never calls wmr_finish in one).
func (c *checker) runCombineOrReduce(ctx context.Context, init *abi.Init, combine, finish bool, keys [][]byte, values map[string][][]byte) ([]abi.Record, error) {
	inst, err := c.fresh(ctx, init)
	if err != nil {
		return nil, err
	}
	defer inst.Close(ctx)
	s := &sink{partitions: 3}
	if !combine {
		err = inst.Reduce(ctx, chunk(keys, values), nil, s)
		if err == nil {
			err = inst.Finish(ctx, s)
		}
		return s.recs, firstErr(err, s.err)
	}
	// One call per key, so the combiner's one-key rule can be checked.
	for _, k := range keys {
		s.onlyKey = k
		if err := inst.Combine(ctx, chunk([][]byte{k}, values), nil, s); err != nil {
			return nil, firstErr(s.err, err)
		}
	}
	if finish {
		s.onlyKey = nil
		if err := inst.Finish(ctx, s); err != nil {
			return nil, firstErr(s.err, err)
		}
	}
	return s.recs, s.err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *checker) empty(ctx context.Context) Result {
	out, err := c.runMap(ctx, nil)
	if err != nil {
		return fail("a batch of no records failed: %v", err)
	}
	if len(out) != 0 {
		return fail("a batch of no records emitted %d records", len(out))
	}
	out, err = c.runMap(ctx, lineRecords([]string{""}))
	if err != nil {
		return fail("an empty line failed: %v", err)
	}
	if _, err := c.runReduce(ctx, false, nil, nil); err != nil {
		return fail("a chunk of no groups failed: %v", err)
	}
	return pass("no records, an empty line (%d records out), and no groups", len(out))
}

// moduleError reports whether err is the module's own report through
// wmr.fail (a clean refusal) rather than a trap or broken output.
func moduleError(err error) bool { return errors.Is(err, wasmhost.ErrModuleFailed) }

func (c *checker) sample(ctx context.Context) Result {
	// Line by line, so one refused line does not hide the rest.
	accepted, refused := 0, []string{}
	c.pairs, c.accepted = nil, nil
	for _, rec := range lineRecords(sampleLines) {
		out, err := c.runMap(ctx, []abi.Record{rec})
		switch {
		case err == nil:
			accepted++
			c.pairs = append(c.pairs, out...)
			c.accepted = append(c.accepted, string(rec.Value))
		case moduleError(err):
			refused = append(refused, fmt.Sprintf("%q", rec.Value))
		default:
			return fail("mapping the line %q: %v", rec.Value, err)
		}
	}
	if accepted == 0 {
		return pass("the module refused every sample line through wmr.fail (fine for a job with other input)")
	}
	keys, values := reduceInput(c.pairs)
	if _, err := c.runReduce(ctx, false, keys, values); err != nil {
		return fail("reducing the module's own map output (%d keys): %v", len(keys), err)
	}
	if c.caps&abi.CapCombine != 0 {
		if _, err := c.runReduce(ctx, true, keys, values); err != nil {
			return fail("combining the module's own map output: %v", err)
		}
		inMap, err := c.runCombineOrReduce(ctx, c.mapInit(c.params()), true, true, keys, values)
		if err != nil {
			return fail("combining the module's own map output, then ending the task: %v", err)
		}
		inTree, err := c.runCombineOrReduce(ctx, c.combineTaskInit(), true, false, keys, values)
		if err != nil {
			return fail("combining the module's own map output in a combine task (task_kind \"combine\", the reduce tree): %v", err)
		}
		if !sameRecords(inMap, inTree) {
			return fail("in a combine task (task_kind \"combine\") the combiner's calls emitted %d records, in a map task's (with its end-of-task call) %d: "+
				"a combine task's output must be emitted by its wmr_combine calls (ABI.md section 1: any task_kind but \"map\" is not a map task)",
				len(inTree), len(inMap))
		}
	}
	detail := fmt.Sprintf("%d lines mapped to %d records, reduced over %d keys", accepted, len(c.pairs), len(keys))
	if c.caps&abi.CapCombine != 0 {
		detail += ", combined key by key"
	}
	if len(refused) > 0 {
		detail += "; refused through wmr.fail: " + strings.Join(refused, ", ")
	}
	return pass("%s", detail)
}

// textBlocks offers text blocks (ABI.md 4.5) to a map task. A module that
// takes them must map the sample lines it accepts to the same output from
// one block, from a block a line, and from record batches; lines end in
// "\n" or "\r\n", and the last has no newline.
func (c *checker) textBlocks(ctx context.Context) Result {
	init := c.mapInit(c.params())
	init.TextBlocks = true
	inst, err := c.fresh(ctx, init)
	if err != nil {
		return fail("init of a map task offered text blocks failed: %v", err)
	}
	takes := inst.Caps()&abi.CapTextBlocks != 0
	inst.Close(ctx)
	if !takes {
		return pass("not taken: the module's map tasks get record batches")
	}
	if len(c.accepted) == 0 {
		return pass("taken: not compared, as the module refused every sample line")
	}
	var text []byte
	var recs []abi.Record
	var ends []int // where each line's bytes end, its newline included
	for i, l := range c.accepted {
		recs = append(recs, abi.Record{Key: offsetKey(uint64(len(text))), Value: []byte(l)})
		text = append(text, l...)
		if i < len(c.accepted)-1 {
			if i%2 == 1 {
				text = append(text, '\r')
			}
			text = append(text, '\n')
		}
		ends = append(ends, len(text))
	}
	want, err := c.runMap(ctx, recs)
	if err != nil {
		return fail("mapping the sample lines it accepts in one batch: %v", err)
	}
	whole, err := c.runMapText(ctx, init, text, []int{len(text)})
	if err != nil {
		return fail("mapping %d lines in one text block: %v", len(recs), err)
	}
	apart, err := c.runMapText(ctx, init, text, ends)
	if err != nil {
		return fail("mapping %d lines in a text block each: %v", len(recs), err)
	}
	switch {
	case !sameRecords(whole, want):
		return fail("%d lines in one text block mapped to %d records, in a record batch to %d: they must be the same, in the same order", len(recs), len(whole), len(want))
	case !sameRecords(apart, want):
		return fail("%d lines in a text block each mapped to %d records, in a record batch to %d: they must be the same, in the same order", len(recs), len(apart), len(want))
	}
	return pass("taken: %d lines in text blocks map as in a record batch", len(recs))
}

// runMapText maps text on a fresh instance initialised with init, in
// text blocks that end at each of ends, and returns the output.
func (c *checker) runMapText(ctx context.Context, init *abi.Init, text []byte, ends []int) ([]abi.Record, error) {
	return c.mapTask(ctx, init, func(inst *wasmhost.Instance, s *sink) error {
		start := 0
		for _, end := range ends {
			err := inst.MapText(ctx, end-start, func(lines []byte) (int, int64, error) {
				return copy(lines, text[start:end]), int64(start), nil
			}, s)
			if err != nil {
				return err
			}
			start = end
		}
		return nil
	})
}

func sameRecords(a, b []abi.Record) bool {
	return slices.EqualFunc(a, b, func(x, y abi.Record) bool {
		return bytes.Equal(x.Key, y.Key) && bytes.Equal(x.Value, y.Value) && x.Partition == y.Partition
	})
}

func (c *checker) binary(ctx context.Context) Result {
	recs := binaryRecords()
	var notes []string
	first, err := c.runMap(ctx, recs)
	switch {
	case err == nil:
		second, err := c.runMap(ctx, recs)
		if err != nil || !sameRecords(first, second) {
			return fail("mapping the same binary records twice gave different results (%v)", err)
		}
		notes = append(notes, fmt.Sprintf("map took them (%d records out, deterministic)", len(first)))
	case moduleError(err):
		notes = append(notes, "map refused them through wmr.fail")
	default:
		return fail("map on empty, NUL, invalid UTF-8 and 1 MiB keys/values: %v", err)
	}
	keys := [][]byte{nil, {0}, []byte("\xff\xfe"), []byte("k")}
	values := map[string][][]byte{
		"":         {nil, []byte("1")},
		"\x00":     {[]byte("\x00\x00")},
		"\xff\xfe": {[]byte("\xc3\x28")},
		"k":        {bytes.Repeat([]byte("9"), 1<<20)},
	}
	first, err = c.runReduce(ctx, false, keys, values)
	switch {
	case err == nil:
		second, err := c.runReduce(ctx, false, keys, values)
		if err != nil || !sameRecords(first, second) {
			return fail("reducing the same binary groups twice gave different results (%v)", err)
		}
		notes = append(notes, fmt.Sprintf("reduce took them (%d records out, deterministic)", len(first)))
	case moduleError(err):
		notes = append(notes, "reduce refused them through wmr.fail")
	default:
		return fail("reduce on empty, NUL, invalid UTF-8 and 1 MiB keys/values: %v", err)
	}
	return pass("%s", strings.Join(notes, "; "))
}

// repeatSource streams one value n times through next_values.
type repeatSource struct {
	v    []byte
	left int
}

func (s *repeatSource) PeekValue() ([]byte, bool, error) { return s.v, s.left > 0, nil }
func (s *repeatSource) SkipValue()                       { s.left-- }

// manyValues sends one key with manyValues values: a few in the chunk,
// the rest through next_values, in reduce and (if declared) combine.
func (c *checker) manyValues(ctx context.Context) Result {
	key, value := []byte("wmr"), []byte("1")
	if len(c.pairs) > 0 {
		key, value = c.pairs[0].Key, c.pairs[0].Value
	}
	run := func(combine bool) (int, []abi.Record, error) {
		init := c.reduceInit()
		if combine {
			init = c.mapInit(c.params())
		}
		inst, err := c.fresh(ctx, init)
		if err != nil {
			return 0, nil, err
		}
		defer inst.Close(ctx)
		var w abi.ChunkWriter
		w.Reset()
		w.BeginGroup(key)
		for i := 0; i < 10; i++ {
			w.AddValue(value)
		}
		w.EndGroup(true)
		src := &repeatSource{v: value, left: manyValues - 10}
		s := &sink{partitions: 3}
		if combine {
			s.onlyKey = key
			err = inst.Combine(ctx, w.Bytes(), src, s)
		} else {
			err = inst.Reduce(ctx, w.Bytes(), src, s)
		}
		return manyValues - src.left, s.recs, firstErr(s.err, err)
	}
	read, out, err := run(false)
	if err != nil {
		return fail("reduce of key %q with %d values: %v", clip(key), manyValues, err)
	}
	detail := fmt.Sprintf("reduce of %d values of key %q read %d of them and emitted %d records", manyValues, clip(key), read, len(out))
	if read <= 10 {
		detail += " (it never called next_values)"
	}
	if c.caps&abi.CapCombine != 0 {
		read, out, err = run(true)
		if err != nil {
			return fail("combine of key %q with %d values: %v", clip(key), manyValues, err)
		}
		detail += fmt.Sprintf("; combine read %d and emitted %d", read, len(out))
	}
	return pass("%s", detail)
}

// warm runs two map tasks on one instance: the second must give what a
// fresh instance gives (per-task state is reset by wmr_init).
func (c *checker) warm(ctx context.Context) Result {
	recs := lineRecords(sampleLines[:1])
	want, err := c.runMap(ctx, recs)
	if err != nil {
		if moduleError(err) {
			return Result{Status: Skip, Detail: "skipped: the module refuses the sample line"}
		}
		return fail("%v", err)
	}
	inst, err := c.fresh(ctx, c.mapInit(c.params()))
	if err != nil {
		return fail("%v", err)
	}
	defer inst.Close(ctx)
	for task := 1; task <= 2; task++ {
		if task == 2 {
			if err := inst.Init(ctx, c.mapInit(c.params())); err != nil {
				return fail("second init on a warm instance: %v", err)
			}
		}
		s := &sink{partitions: 3}
		if err := inst.Map(ctx, batch(recs), s); err != nil {
			return fail("task %d on a warm instance: %v", task, err)
		}
		if err := inst.Finish(ctx, s); err != nil {
			return fail("end of task %d on a warm instance: %v", task, err)
		}
		if !sameRecords(s.recs, want) {
			return fail("task %d on a warm instance emitted %d records, a fresh instance %d: per-task state is not reset by wmr_init", task, len(s.recs), len(want))
		}
	}
	return pass("two tasks on one instance give what a fresh instance gives")
}

func (c *checker) partitionVectors(ctx context.Context) Result {
	if !c.mod.Exports(abi.ExportPartition) {
		return Result{Status: Skip, Detail: "skipped: the module does not export wmr_partition (optional; the SDKs in sdk/ do)"}
	}
	inst, err := c.fresh(ctx, c.mapInit(c.params()))
	if err != nil {
		return fail("%v", err)
	}
	defer inst.Close(ctx)
	own := inst.HasPartitioner()
	n := 0
	vectors := abi.PartitionVectors()
	for _, v := range vectors {
		for _, r := range v.PartitionCounts() {
			p, _, err := inst.Partition(ctx, v.Key, r)
			if err != nil {
				return fail("wmr_partition(%q, %d): %v", clip(v.Key), r, err)
			}
			if p < 0 || p >= r {
				return fail("wmr_partition(%q, %d) = %d, out of range", clip(v.Key), r, p)
			}
			if !own && p != v.Partitions[r] {
				return fail("wmr_partition(%q, %d) = %d; the ABI's FNV-1a-64 hash gives %d", clip(v.Key), r, p, v.Partitions[r])
			}
			n++
		}
	}
	if !own {
		return pass("%d answers for %d keys match the ABI's FNV-1a-64 vectors", n, len(vectors))
	}
	// An own partitioner: what emit says must agree with wmr_partition.
	for _, rec := range c.pairs {
		if rec.Partition < 0 {
			return fail("declares its own partitioner but emitted a record without a partition")
		}
		p, _, err := inst.Partition(ctx, rec.Key, 3)
		if err != nil {
			return fail("%v", err)
		}
		if p != rec.Partition {
			return fail("emitted key %q to partition %d but wmr_partition says %d", clip(rec.Key), rec.Partition, p)
		}
	}
	return pass("own partitioner: %d answers in range, and it agrees with the partitions of %d emitted records", n, len(c.pairs))
}

// errorReporting sends a batch that ends in the middle of a record: the
// module must refuse it through wmr.fail, not trap or take it.
func (c *checker) errorReporting(ctx context.Context) Result {
	b := batch(lineRecords([]string{"the quick brown fox", "jumps"}))
	truncated := b[:len(b)-3]
	inst, err := c.fresh(ctx, c.mapInit(c.params()))
	if err != nil {
		return fail("%v", err)
	}
	defer inst.Close(ctx)
	err = inst.Map(ctx, truncated, &sink{partitions: 3})
	switch {
	case err == nil:
		return fail("a truncated batch was accepted: the module must check what it reads and report through wmr.fail")
	case moduleError(err):
		return pass("a truncated batch is refused through wmr.fail: %v", err)
	default:
		return fail("a truncated batch should be refused through wmr.fail, but: %v", err)
	}
}

// memoryCap sends an input larger than the memory cap: the host must stop
// it cleanly (the module's allocator fails or traps at the cap), and a
// fresh instance must work after.
func (c *checker) memoryCap(ctx context.Context) Result {
	big := c.opts.MemoryLimit + 1<<20
	inst, err := c.fresh(ctx, c.mapInit(c.params()))
	if err != nil {
		return fail("%v", err)
	}
	var w abi.BatchWriter
	w.Reset()
	w.Add(offsetKey(0), bytes.Repeat([]byte("a"), int(big)))
	err = inst.Map(ctx, w.Bytes(), &sink{partitions: 3})
	inst.Close(ctx)
	if err == nil {
		return fail("took a %d MiB record under a %d MiB memory cap", big>>20, c.opts.MemoryLimit>>20)
	}
	if !errors.Is(err, wasmhost.ErrMemoryLimit) && !moduleError(err) {
		return fail("a %d MiB record under a %d MiB cap should fail as out of memory, but: %v", big>>20, c.opts.MemoryLimit>>20, err)
	}
	if _, err := c.runMap(ctx, lineRecords(sampleLines[:1])); err != nil && !moduleError(err) {
		return fail("after hitting the cap, a fresh instance fails: %v", err)
	}
	return pass("a %d MiB record under a %d MiB cap stops cleanly (%v); a fresh instance works after", big>>20, c.opts.MemoryLimit>>20, err)
}
