package wmr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"unsafe"

	"github.com/wmr-dev/wmr/abi"
)

// Job is what a module does. Map and Reduce are required; Combine and
// Partition are optional.
type Job struct {
	// Init, if set, runs at the start of every task, after the task
	// context is known (see Task).
	Init func(t *TaskContext) error
	// Map is called for every input record. For text input, key is the
	// byte offset of the line in its file (see Offset) and value is the
	// line without its newline.
	Map func(key, value []byte, emit *Emitter) error
	// Reduce is called once per key, in bytewise key order, with all of
	// that key's values.
	Reduce func(key []byte, values *Values, emit *Emitter) error
	// Combine, if set, pre-aggregates map output before it leaves the map
	// task. It must be associative and commutative and emit only the key
	// it was given (usually it is the same function as Reduce).
	Combine func(key []byte, values *Values, emit *Emitter) error
	// Partition, if set, replaces the default partitioner (abi.Partition).
	// It must return a number in [0, n).
	Partition func(key []byte, n int) int
	// Finish, if set, is called once at the end of every task (Hadoop's
	// cleanup): after the last Map call of a map task, after the last
	// Reduce of a reduce task. It may emit, for example what Map kept
	// in its own state across records.
	Finish func(emit *Emitter) error
}

// TaskContext describes the running task. Its fields are set before Init
// runs and stay valid for the whole task.
type TaskContext struct {
	JobID         string
	TaskID        string
	TaskKind      string // "map", "reduce" or "combine" (a task of the reduce tree, which only combines)
	Attempt       int
	InputFile     string // map tasks: base name of the input file
	InputFormat   string // map tasks: "text", "fixed:N" or "kv" (ABI.md section 4.2.1)
	SplitOffset   int64
	SplitLength   int64
	Partition     int // reduce tasks: the partition being reduced
	NumPartitions int
	Params        map[string]string
}

// Param returns the job parameter name (from --param name=value), or "".
func (t *TaskContext) Param(name string) string { return t.Params[name] }

// host is the boundary to the wmr host: the wmr.* imports on wasip1, a
// fake in native tests.
type host interface {
	emit(batch []byte)
	nextValues(buf []byte) int32
	fail(payload []byte)
	log(level int32, msg []byte)
	counter(name []byte, delta int64)
}

// emitFlushSize is the batch size at which buffered emits cross to the host.
const emitFlushSize = 64 << 10

// guest holds the SDK's state inside one module instance.
type guest struct {
	h        host
	job      *Job
	task     TaskContext
	input    []byte
	cont     []byte
	emitter  Emitter
	counters map[string]int64
	batch    abi.BatchReader
	groups   abi.GroupReader
	values   Values
	fails    []byte
	// table combines a map task's output in the module (combine.go).
	table *combineTable
	// textBlocks: the task's wmr_map calls get text blocks (ABI.md 4.5).
	textBlocks bool
}

func newGuest(h host) *guest {
	g := &guest{h: h, counters: map[string]int64{}}
	g.emitter.g = g
	g.emitter.reset()
	g.values.g = g
	return g
}

// theGuest is the module's SDK state; set on wasip1, nil natively (RunLocal
// makes its own).
var theGuest *guest

// registered is the job given to Register.
var registered *Job

// Register declares the job. Call it once, from an init function of package
// main.
func Register(j Job) { registered = &j }

// Task returns the context of the running task.
func Task() *TaskContext {
	if theGuest == nil {
		return &TaskContext{}
	}
	return &theGuest.task
}

// Counter adds delta to the job counter name. Counters are summed over all
// tasks and shown in the job summary.
func Counter(name string, delta int64) {
	if theGuest != nil {
		theGuest.counters[name] += delta
	}
}

// Log levels for Log.
const (
	LevelDebug = abi.LogDebug
	LevelInfo  = abi.LogInfo
	LevelWarn  = abi.LogWarn
	LevelError = abi.LogError
)

// Log sends a message to the host's job log. The host keeps a bounded number
// of messages per task.
func Log(level int, format string, args ...any) {
	if theGuest != nil {
		theGuest.h.log(int32(level), []byte(fmt.Sprintf(format, args...)))
	}
}

func (g *guest) alloc(size int32) []byte {
	if int(size)+readSlack > cap(g.input) {
		g.input = make([]byte, size, int(size)+readSlack)
		batchLo = uintptr(unsafe.Pointer(unsafe.SliceData(g.input)))
		batchLen, batchReach = uintptr(cap(g.input)), uintptr(cap(g.input)-16)
	}
	return g.input[:size]
}

func (g *guest) init(msg []byte) (caps int32) {
	idx := abi.NoRecord
	defer g.recoverAs(&idx, &caps)
	if g.job == nil {
		g.job = registered
	}
	if g.job == nil {
		return g.failf(abi.NoRecord, "the module registered no job: call wmr.Register(wmr.Job{...}) from an init function")
	}
	if g.job.Map == nil || g.job.Reduce == nil {
		return g.failf(abi.NoRecord, "the registered wmr.Job has no Map or no Reduce function")
	}
	m, err := abi.DecodeInit(msg)
	if err != nil {
		return g.failf(abi.NoRecord, "%v", err)
	}
	g.task = TaskContext{JobID: m.JobID, TaskID: m.TaskID, TaskKind: m.TaskKind, Attempt: m.Attempt,
		InputFile: m.InputFile, InputFormat: m.InputFormat, SplitOffset: m.SplitOffset, SplitLength: m.SplitLength,
		Partition: m.Partition, NumPartitions: m.NumPartitions, Params: m.Params}
	if g.task.Params == nil {
		g.task.Params = map[string]string{}
	}
	g.emitter.partition = g.job.Partition
	g.table = nil
	if m.TaskKind == abi.TaskMap && m.Finish { // the host will call wmr_finish to flush it
		g.table = newCombineTable(g, g.job, m.MemoryLimit)
	}
	g.emitter.table = g.table
	if g.job.Init != nil {
		if err := g.job.Init(&g.task); err != nil {
			return g.failf(abi.NoRecord, "init: %v", err)
		}
	}
	g.finishCall()
	if g.job.Combine != nil {
		caps |= abi.CapCombine
	}
	if g.job.Partition != nil {
		caps |= abi.CapPartitioner
	}
	if g.job.Combine != nil || g.job.Finish != nil {
		caps |= abi.CapFinish
	}
	if g.textBlocks = m.TextBlocks; g.textBlocks {
		caps |= abi.CapTextBlocks
	}
	return caps
}

// partition is the partition the module gives key among n: the job's
// partitioner's, or the ABI's default hash (the wmr_partition export).
func (g *guest) partition(key []byte, n int) int32 {
	if n <= 0 {
		return -1
	}
	job := g.job
	if job == nil {
		job = registered
	}
	if job != nil && job.Partition != nil {
		return int32(job.Partition(key, n))
	}
	return int32(abi.Partition(key, n))
}

func (g *guest) mapBatch(b []byte) (status int32) {
	if g.textBlocks {
		return g.mapText(b)
	}
	idx := abi.NoRecord
	defer g.recoverAs(&idx, &status)
	if err := g.batch.Reset(b); err != nil {
		return g.failf(abi.NoRecord, "reading the host's batch: %v", err)
	}
	mapFn := g.job.Map
	for idx = 0; ; idx++ {
		key, value, ok, err := g.batch.NextKV() // one call a record, not five
		if err != nil {
			return g.failf(idx, "reading the host's batch: %v", err)
		}
		if !ok {
			break
		}
		if err := mapFn(key, value, &g.emitter); err != nil {
			return g.fail(idx, err)
		}
		if g.table != nil && g.table.err != nil {
			return g.fail(idx, g.table.err)
		}
	}
	g.finishCall()
	return abi.StatusOK
}

// mapText maps each line of a text block (ABI.md 4.5): key its offset,
// 8 bytes big-endian; value the line without "\n" or "\r\n".
func (g *guest) mapText(b []byte) (status int32) {
	idx := abi.NoRecord
	defer g.recoverAs(&idx, &status)
	at, lines, err := abi.ReadTextBlock(b)
	if err != nil {
		return g.failf(abi.NoRecord, "reading the host's text block: %v", err)
	}
	mapFn := g.job.Map
	var key [8]byte
	for idx = 0; len(lines) > 0; idx++ {
		line, next := lines, lines[len(lines):]
		if i := indexNewline(lines); i >= 0 {
			line, next = lines[:i], lines[i+1:]
			if i > 0 && line[i-1] == '\r' {
				line = line[:i-1]
			}
		}
		binary.BigEndian.PutUint64(key[:], uint64(at))
		if err := mapFn(key[:], line, &g.emitter); err != nil {
			return g.fail(idx, err)
		}
		if g.table != nil && g.table.err != nil {
			return g.fail(idx, g.table.err)
		}
		at += int64(len(lines) - len(next))
		lines = next
	}
	g.finishCall()
	return abi.StatusOK
}

// finish is the end-of-task call: the combining table's last flush, then
// the job's Finish.
func (g *guest) finish() (status int32) {
	idx := abi.NoRecord
	defer g.recoverAs(&idx, &status)
	if t := g.table; t != nil {
		t.flush()
		g.emitter.table, g.table = nil, nil // Finish emits straight to the host
		if t.err != nil {
			return g.fail(abi.NoRecord, t.err)
		}
	}
	if g.job.Finish != nil {
		if err := g.job.Finish(&g.emitter); err != nil {
			return g.failf(abi.NoRecord, "finish: %v", err)
		}
	}
	g.finishCall()
	return abi.StatusOK
}

func (g *guest) reduceChunk(b []byte, fn func([]byte, *Values, *Emitter) error) (status int32) {
	if fn == nil {
		return g.failf(abi.NoRecord, "the module has no combiner")
	}
	if err := g.groups.ResetChunk(b); err != nil {
		return g.failf(abi.NoRecord, "reading the host's chunk: %v", err)
	}
	idx := abi.NoRecord
	defer g.recoverAs(&idx, &status)
	for idx = 0; ; idx++ {
		key, ok, err := g.groups.NextGroup()
		if err != nil {
			return g.failf(idx, "reading the host's chunk: %v", err)
		}
		if !ok {
			break
		}
		g.values.reset()
		if err := fn(key, &g.values, &g.emitter); err != nil {
			return g.fail(idx, err)
		}
		if g.values.err != nil {
			return g.failf(idx, "reading values from the host: %v", g.values.err)
		}
	}
	g.finishCall()
	return abi.StatusOK
}

// finishCall flushes buffered emits and counters before an export returns.
func (g *guest) finishCall() {
	g.emitter.flush()
	if len(g.counters) > 0 {
		names := make([]string, 0, len(g.counters))
		for name := range g.counters {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			g.h.counter([]byte(name), g.counters[name])
		}
		clear(g.counters)
	}
}

func (g *guest) fail(idx int, err error) int32 {
	return g.failf(idx, "%v", err)
}

func (g *guest) failf(idx int, format string, args ...any) int32 {
	// Whatever was emitted before the failure is discarded by the host;
	// counters too. Drop them here so the next call starts clean.
	g.emitter.reset()
	clear(g.counters)
	g.fails = abi.AppendFail(g.fails[:0], fmt.Sprintf(format, args...), idx)
	g.h.fail(g.fails)
	return abi.StatusError
}

// recoverAs turns a panic in user code into a reported failure.
// It must be deferred directly (recover only works there); idx points at
// the index of the record being processed.
func (g *guest) recoverAs(idx *int, status *int32) {
	if r := recover(); r != nil {
		*status = g.failf(*idx, "panic: %v", r)
	}
}

// Emitter collects a function's output pairs. It is valid only during the
// call it was passed to.
type Emitter struct {
	g *guest
	// buf is an emit batch in the making: an array32 header (count
	// patched at flush) and records. Its capacity leaves room past
	// emitFlushSize so the fast path never grows it.
	buf []byte
	n   int
	// partition is the job's partitioner, or nil for the default.
	partition func([]byte, int) int
	// table, in a map task of a job with a combiner, takes what is
	// emitted (combine.go); nil sends it to the host.
	table *combineTable
}

func (e *Emitter) reset() {
	if cap(e.buf) < emitFlushSize+emitSlack {
		e.buf = make([]byte, 0, emitFlushSize+emitSlack)
	}
	e.buf = append(e.buf[:0], 0, 0, 0, 0, 0)
	e.n = 0
}

// emitSlack is room past emitFlushSize for one small record.
const emitSlack = 1 << 10

// emitPair is Emit. It is a function, not a method, so that the wasm
// fast path (emit_wasm.s) can hand a pair over to it unchanged.
func emitPair(e *Emitter, key, value []byte) {
	if t := e.table; t != nil {
		// In a module, a key already in a Sum table with a one-digit value
		// (nearly every word of a word count) was counted by emitCounted
		// before it came here; what comes is a new key or another case.
		if t.sum && len(value) == 1 && value[0]-'0' <= 9 { // the usual "1"
			t.addSum(key, int64(value[0]-'0'))
		} else {
			t.add(key, value)
		}
		return
	}
	kl, vl := len(key), len(value)
	n := len(e.buf)
	end := n + 5 + kl + vl
	// Fast path: short key and value, default partitioner, room left.
	if kl < 256 && vl < 256 && e.partition == nil && end <= cap(e.buf) {
		b := e.buf[:end]
		b[n], b[n+1], b[n+2] = 0x92, 0xc4, byte(kl)
		copy(b[n+3:], key)
		m := n + 3 + kl
		b[m], b[m+1] = 0xc4, byte(vl)
		copy(b[m+2:], value)
		e.buf = b
		e.n++
		if end >= emitFlushSize {
			e.flush()
		}
		return
	}
	e.emitSlow(key, value)
}

func (e *Emitter) emitSlow(key, value []byte) {
	if e.partition != nil {
		e.buf = append(e.buf, 0x93)
		e.buf = abi.AppendBin(e.buf, key)
		e.buf = abi.AppendBin(e.buf, value)
		e.buf = abi.AppendUint(e.buf, uint64(e.partition(key, e.g.task.NumPartitions)))
	} else {
		e.buf = abi.AppendRecord(e.buf, key, value)
	}
	e.n++
	if len(e.buf) >= emitFlushSize {
		e.flush()
	}
}

// EmitString outputs a pair of strings.
func (e *Emitter) EmitString(key, value string) {
	e.Emit(unsafeBytes(key), unsafeBytes(value))
}

// EmitInt outputs key with n written in decimal.
func (e *Emitter) EmitInt(key []byte, n int64) {
	if e.table != nil && e.table.sum {
		e.table.addSum(key, n)
		return
	}
	var buf [20]byte
	e.Emit(key, strconv.AppendInt(buf[:0], n, 10))
}

func (e *Emitter) flush() {
	if e.n > 0 {
		abi.PutArray32Header(e.buf, e.n)
		e.g.h.emit(e.buf)
	}
	e.reset()
}

// Values iterates over the values of one key. The host streams them in
// chunks, so a key may have more values than fit in the module's memory.
// A Values is valid only during the call it was passed to.
type Values struct {
	g   *guest
	cur []byte
	err error
}

func (v *Values) reset() { v.cur, v.err = nil, nil }

// Next advances to the next value and reports whether there is one.
func (v *Values) Next() bool {
	if v.err != nil {
		return false
	}
	gr := &v.g.groups
	for {
		val, ok, err := gr.Value()
		if err != nil {
			v.err = err
			return false
		}
		if ok {
			v.cur = val
			return true
		}
		if !gr.More() {
			return false
		}
		if err := v.pull(); err != nil {
			v.err = err
			return false
		}
	}
}

// pull fetches the next part of a continuing group from the host.
func (v *Values) pull() error {
	g := v.g
	if cap(g.cont) == 0 {
		g.cont = make([]byte, 64<<10)
	}
	for {
		n := g.h.nextValues(g.cont[:cap(g.cont)])
		if n < 0 {
			g.cont = make([]byte, -n)
			continue
		}
		if n == 0 {
			return errors.New("host has no more values for a group it said continues")
		}
		return g.groups.ResetContinuation(g.cont[:n])
	}
}

// Value returns the current value, valid until the next call to Next.
func (v *Values) Value() []byte { return v.cur }

// Err returns the error that stopped iteration early, if any. The SDK
// reports it to the host on its own; Err is for functions that want to
// stop at once.
func (v *Values) Err() error { return v.err }

// All returns an iterator over the remaining values.
func (v *Values) All() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for v.Next() {
			if !yield(v.cur) {
				return
			}
		}
	}
}

// SumInts adds up the remaining values, each a decimal integer.
func (v *Values) SumInts() (int64, error) {
	var sum int64
	gr := &v.g.groups
	for v.err == nil {
		// Fast path: decode short decimal values straight from the buffer,
		// without a call per value (calls are dear in WebAssembly).
		buf, off, left := gr.Pending()
		k := 0
		for k < left && off+2 < len(buf) && buf[off] == 0xc4 {
			n := int(buf[off+1])
			end := off + 2 + n
			if n == 0 || n > 18 || end > len(buf) {
				break
			}
			i := off + 2
			neg := buf[i] == '-'
			if neg {
				i++
			}
			var x int64
			ok := i < end
			for ; i < end; i++ {
				c := buf[i] - '0'
				if c > 9 {
					ok = false
					break
				}
				x = x*10 + int64(c)
			}
			if !ok {
				break
			}
			if neg {
				x = -x
			}
			sum += x
			off = end
			k++
		}
		gr.Consumed(off, k)
		// Slow path: an unusual value, or the next continuation.
		if !v.Next() {
			break
		}
		n, err := ParseInt(v.cur)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, v.err
}
