package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wmr-dev/wmr/abi"
)

// Sink receives the records a guest emits. key and value point into guest
// memory and are valid only during the call: a Sink copies what it keeps.
// partition is -1 unless the guest chose one. An error from Emit stops the
// guest and is returned from the Instance call that was running.
type Sink interface {
	Emit(key, value []byte, partition int) error
}

// ValueSource streams the rest of a reduce group whose values did not fit
// its chunk (the guest asks for them through next_values).
type ValueSource interface {
	// PeekValue returns the group's next value without consuming it; ok
	// is false when the group has no more values.
	PeekValue() (v []byte, ok bool, err error)
	// SkipValue consumes the value PeekValue returned.
	SkipValue()
}

// maxCounters bounds the distinct counters one instance may create per task.
const maxCounters = 1000

// maxLogsPerTask bounds the log messages one instance may send per task.
const maxLogsPerTask = 200

// Instance is one instantiated module. It is not safe for concurrent use:
// wazero functions must not be called from several goroutines at once.
type Instance struct {
	module   *Module
	mod      api.Module
	mem      api.Memory
	fAlloc   api.Function
	fInit    api.Function
	fMap     api.Function
	fReduce  api.Function
	fCombine api.Function
	fPart    api.Function
	fFinish  api.Function
	stack    [3]uint64
	output   boundedBuffer
	caps     int32
	// offeredBlocks: the last Init offered text blocks (ABI.md 4.5).
	offeredBlocks bool
	broken        bool

	// State of the call in progress.
	call        string
	sink        Sink
	values      ValueSource
	cont        abi.ContinuationWriter
	batch       abi.BatchReader
	abort       error
	failed      bool
	failMsg     string
	failRecord  int
	outputBytes int64
	// allocating is the size of the wmr_alloc call in progress, if any.
	allocating uint64

	counters map[string]int64
	logs     int
	logAttrs []any
	logSink  func(level int, msg string)
}

// Instantiate creates a fresh instance: runs the module's start function
// (_initialize, for Go and Rust reactors) and checks its ABI version.
func (m *Module) Instantiate(ctx context.Context) (*Instance, error) {
	i := &Instance{module: m, counters: map[string]int64{}, failRecord: abi.NoRecord}
	i.output.limit = 8 << 10
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&i.output).
		WithStderr(&i.output)
	allocCtx := ctx
	if !m.host.cfg.CloseOnContextDone {
		// With CloseOnContextDone, wazero frees a module's memory from the
		// goroutine that saw the context end while the guest may still be
		// running on it: only a garbage-collected slice is safe then.
		allocCtx = experimental.WithMemoryAllocator(ctx, mappedMemories)
	}
	mod, err := m.host.runtime.InstantiateModule(allocCtx, m.compiled, cfg)
	if err != nil {
		return nil, &ModuleError{Module: m.name, Record: abi.NoRecord, Msg: "cannot be instantiated: " + firstLine(err.Error()), Kind: ErrInvalidModule, Cause: err}
	}
	i.mod = mod
	i.mem = mod.Memory()
	i.fAlloc = mod.ExportedFunction(abi.ExportAlloc)
	i.fInit = mod.ExportedFunction(abi.ExportInit)
	i.fMap = mod.ExportedFunction(abi.ExportMap)
	i.fReduce = mod.ExportedFunction(abi.ExportReduce)
	i.fCombine = mod.ExportedFunction(abi.ExportCombine)
	i.fPart = mod.ExportedFunction(abi.ExportPartition)
	i.fFinish = mod.ExportedFunction(abi.ExportFinish)
	if start := mod.ExportedFunction(abi.ExportStart); start != nil {
		i.call = abi.ExportStart
		gc := i.pauseGC()
		_, err := start.Call(i.callCtx(ctx))
		i.resumeGC(gc)
		if err != nil {
			err = i.callError(ctx, err)
			mod.Close(ctx)
			return nil, err
		}
	}
	i.call = abi.ExportABIVersion
	gc := i.pauseGC()
	res, err := mod.ExportedFunction(abi.ExportABIVersion).Call(i.callCtx(ctx))
	i.resumeGC(gc)
	if err != nil {
		err = i.callError(ctx, err)
		mod.Close(ctx)
		return nil, err
	}
	if v := api.DecodeI32(res[0]); v != abi.Version {
		mod.Close(ctx)
		return nil, &ModuleError{Module: m.name, Record: abi.NoRecord, Kind: ErrABIVersion,
			Msg: fmt.Sprintf("was built for wmr ABI v%d; this wmr implements ABI v%d", v, abi.Version)}
	}
	return i, nil
}

// Module is the module this instance runs.
func (i *Instance) Module() *Module { return i.module }

// Broken reports whether a call failed; a broken instance must be closed
// and replaced.
func (i *Instance) Broken() bool { return i.broken }

// Close releases the instance.
func (i *Instance) Close(ctx context.Context) error { return i.mod.Close(ctx) }

// HasCombiner reports whether the last Init declared a combiner.
func (i *Instance) HasCombiner() bool { return i.caps&abi.CapCombine != 0 && i.fCombine != nil }

// Caps returns the capability bits the last Init declared.
func (i *Instance) Caps() int32 { return i.caps }

// HasPartitioner reports whether the last Init declared that the module
// chooses partitions itself.
func (i *Instance) HasPartitioner() bool { return i.caps&abi.CapPartitioner != 0 }

// Partition asks the module's optional wmr_partition export which
// partition of r it gives key; ok is false when it does not export one.
func (i *Instance) Partition(ctx context.Context, key []byte, r int) (p int, ok bool, err error) {
	if i.fPart == nil {
		return 0, false, nil
	}
	if i.broken {
		return 0, true, fmt.Errorf("module %s: instance is broken by an earlier error", i.module.name)
	}
	cctx := i.callCtx(ctx)
	ptr, err := i.copyIn(ctx, cctx, key)
	if err != nil {
		return 0, true, err
	}
	i.call = abi.ExportPartition
	i.stack[0], i.stack[1], i.stack[2] = uint64(ptr), uint64(len(key)), api.EncodeI32(int32(r))
	if err := i.callGuest(cctx, i.fPart); err != nil {
		return 0, true, i.callError(ctx, err)
	}
	return int(api.DecodeI32(i.stack[0])), true, nil
}

// SetLogAttrs sets slog attributes added to the module's log messages.
func (i *Instance) SetLogAttrs(attrs ...any) { i.logAttrs = attrs }

// SetLogSink makes the module's log messages go to sink as well (level
// 0 debug .. 3 error), for the task's own record of them; nil stops it.
func (i *Instance) SetLogSink(sink func(level int, msg string)) { i.logSink = sink }

// TakeCounters returns the counters accumulated since the last call and
// resets them.
func (i *Instance) TakeCounters() map[string]int64 {
	c := i.counters
	i.counters = map[string]int64{}
	return c
}

// ResetTask clears per-task accounting (output bytes, log budget,
// counters) before a new task uses the instance.
func (i *Instance) ResetTask() {
	i.output.b = i.output.b[:0]
	i.outputBytes = 0
	i.logs = 0
	clear(i.counters)
}

// Init passes the job parameters and task context to the module and
// records the capabilities it declares.
func (i *Instance) Init(ctx context.Context, msg *abi.Init) error {
	b, err := abi.EncodeInit(msg)
	if err != nil {
		return err
	}
	i.ResetTask()
	caps, err := i.callWithBuffer(ctx, abi.ExportInit, i.fInit, b, nil, nil)
	if err != nil {
		return err
	}
	if caps&abi.CapCombine != 0 && i.fCombine == nil {
		i.broken = true
		return &ModuleError{Module: i.module.name, Call: abi.ExportInit, Record: abi.NoRecord, Kind: ErrInvalidModule,
			Msg: "declares a combiner but does not export " + abi.ExportCombine}
	}
	if caps&abi.CapFinish != 0 && i.fFinish == nil {
		i.broken = true
		return &ModuleError{Module: i.module.name, Call: abi.ExportInit, Record: abi.NoRecord, Kind: ErrInvalidModule,
			Msg: "asks for the end-of-task call but does not export " + abi.ExportFinish}
	}
	i.caps, i.offeredBlocks = caps, msg.TextBlocks
	return nil
}

// Map passes a batch of records (abi.BatchWriter's encoding) to wmr_map;
// what the guest emits goes to sink.
func (i *Instance) Map(ctx context.Context, batch []byte, sink Sink) error {
	_, err := i.callWithBuffer(ctx, abi.ExportMap, i.fMap, batch, sink, nil)
	return err
}

// MapText passes a text block (ABI.md 4.5) to wmr_map, for a module that
// took CapTextBlocks. fill writes the block's lines straight into the
// module's buffer (room bytes of it; the one copy the lines make on the
// way in) and returns how many it wrote and the file offset of the
// first; n < 0 means there is nothing to map (the call is not made). The
// buffer is the module's: fill must keep nothing of it, as the module may
// change it during the call.
func (i *Instance) MapText(ctx context.Context, room int, fill func(lines []byte) (n int, offset int64, err error), sink Sink) error {
	if i.broken {
		return fmt.Errorf("module %s: instance is broken by an earlier error", i.module.name)
	}
	cctx := i.callCtx(ctx)
	size := abi.TextBlockHeader + room
	ptr, err := i.alloc(ctx, cctx, size)
	if err != nil {
		return err
	}
	buf, ok := i.mem.Read(ptr, uint32(size))
	if !ok {
		return i.badRegion(ptr, size)
	}
	n, offset, err := fill(buf[abi.TextBlockHeader:])
	if err != nil || n < 0 {
		return err
	}
	abi.PutTextBlockHeader(buf, offset, n)
	_, err = i.callOnBuffer(ctx, cctx, abi.ExportMap, i.fMap, ptr, abi.TextBlockHeader+n, sink, nil)
	return err
}

// Reduce passes a chunk of groups (abi.ChunkWriter's encoding) to
// wmr_reduce. If the chunk's last group continues, values supplies the rest.
func (i *Instance) Reduce(ctx context.Context, chunk []byte, values ValueSource, sink Sink) error {
	_, err := i.callWithBuffer(ctx, abi.ExportReduce, i.fReduce, chunk, sink, values)
	return err
}

// MemorySize is the guest's linear memory now, in bytes.
func (i *Instance) MemorySize() int64 { return int64(i.mem.Size()) }

// TakesTextBlocks reports whether the task's map calls go through
// MapText: Init offered text blocks and the module took them.
func (i *Instance) TakesTextBlocks() bool {
	return i.offeredBlocks && i.caps&abi.CapTextBlocks != 0
}

// HasFinish reports whether the task must end with Finish.
func (i *Instance) HasFinish() bool { return i.caps&abi.CapFinish != 0 && i.fFinish != nil }

// Finish makes the end-of-task call (wmr_finish); what the guest emits
// goes to sink. It does nothing for a module that did not ask for it.
func (i *Instance) Finish(ctx context.Context, sink Sink) error {
	if !i.HasFinish() {
		return nil
	}
	if i.broken {
		return fmt.Errorf("module %s: instance is broken by an earlier error", i.module.name)
	}
	i.abort, i.failed, i.failMsg, i.failRecord = nil, false, "", abi.NoRecord
	i.call, i.sink, i.values = abi.ExportFinish, sink, nil
	defer func() { i.sink = nil }()
	if err := i.callGuest(i.callCtx(ctx), i.fFinish); err != nil {
		return i.callError(ctx, err)
	}
	if status := api.DecodeI32(i.stack[0]); status != abi.StatusOK {
		i.broken = true
		if i.failed {
			return &ModuleError{Module: i.module.name, Call: abi.ExportFinish, Record: abi.NoRecord, Kind: ErrModuleFailed, Msg: i.failMsg}
		}
		return &ModuleError{Module: i.module.name, Call: abi.ExportFinish, Record: abi.NoRecord, Kind: ErrMalformedOutput,
			Msg: fmt.Sprintf("returned status %d without reporting an error through wmr.fail", status)}
	}
	return nil
}

// Combine is Reduce for the module's combiner.
func (i *Instance) Combine(ctx context.Context, chunk []byte, values ValueSource, sink Sink) error {
	if !i.HasCombiner() {
		return fmt.Errorf("module %s has no combiner", i.module.name)
	}
	_, err := i.callWithBuffer(ctx, abi.ExportCombine, i.fCombine, chunk, sink, values)
	return err
}

// callGuest calls fn with the instance's stack as arguments and results.
func (i *Instance) callGuest(cctx context.Context, fn api.Function) error {
	gc := i.pauseGC()
	err := fn.CallWithStack(cctx, i.stack[:])
	i.resumeGC(gc)
	return err
}

// pauseGC turns the garbage collector's GOGC pacing off for a guest call
// where the host's Config asks for it, and returns the setting resumeGC
// puts back (see Config.PauseGCDuringCalls). The memory limit stays: a call whose
// host functions allocate past it is still collected (keeping the
// worker's memory within its budget matters more; a collection that
// starts in a host function can finish at the guest's next call into the
// host). No cycle may be running when the guest starts: turning the
// pacing off waits for a cycle's marking, and a cycle that ended since
// the last call is waited for to its very end, whose last step (flushing
// each P's caches) needs this goroutine too.
func (i *Instance) pauseGC() (percent int) {
	if !i.module.host.cfg.PauseGCDuringCalls {
		return 0
	}
	percent = debug.SetGCPercent(-1)
	metrics.Read(gcCycles.sample)
	if n := gcCycles.sample[0].Value.Uint64(); n != gcCycles.seen {
		// ReadMemStats stops the world, which it can only do once the
		// collector has let go of it, at the end of its cycle.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		gcCycles.seen = n
	}
	return percent
}

// resumeGC puts back the pacing pauseGC returned.
func (i *Instance) resumeGC(percent int) {
	if i.module.host.cfg.PauseGCDuringCalls {
		debug.SetGCPercent(percent)
	}
}

// gcCycles counts the collector's completed cycles (for pauseGC, which
// runs on one goroutine at a time: PauseGCDuringCalls is for a process
// with one instance).
var gcCycles = struct {
	sample []metrics.Sample
	seen   uint64
}{sample: []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}}

func (i *Instance) callCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, instanceKey{}, i)
}

// callWithBuffer copies data into a guest buffer from wmr_alloc and calls
// fn(ptr, len), returning its i32 result.
func (i *Instance) callWithBuffer(ctx context.Context, name string, fn api.Function, data []byte, sink Sink, values ValueSource) (int32, error) {
	if i.broken {
		return 0, fmt.Errorf("module %s: instance is broken by an earlier error", i.module.name)
	}
	cctx := i.callCtx(ctx)
	ptr, err := i.copyIn(ctx, cctx, data)
	if err != nil {
		return 0, err
	}
	return i.callOnBuffer(ctx, cctx, name, fn, ptr, len(data), sink, values)
}

// callOnBuffer calls fn(ptr, n) on a buffer the guest gave (wmr_alloc) and
// the host filled, returning its i32 result.
func (i *Instance) callOnBuffer(ctx, cctx context.Context, name string, fn api.Function, ptr uint32, n int, sink Sink, values ValueSource) (int32, error) {
	i.call, i.sink, i.values = name, sink, values
	defer func() { i.sink, i.values = nil, nil }()
	i.stack[0] = uint64(ptr)
	i.stack[1] = uint64(n)
	if err := i.callGuest(cctx, fn); err != nil {
		return 0, i.callError(ctx, err)
	}
	status := api.DecodeI32(i.stack[0])
	if status < 0 || (name != abi.ExportInit && status != abi.StatusOK) {
		i.broken = true
		if i.failed {
			return 0, &ModuleError{Module: i.module.name, Call: name, Record: i.failRecord, Kind: ErrModuleFailed, Msg: i.failMsg}
		}
		return 0, &ModuleError{Module: i.module.name, Call: name, Record: abi.NoRecord, Kind: ErrMalformedOutput,
			Msg: fmt.Sprintf("returned status %d without reporting an error through wmr.fail", status)}
	}
	return status, nil
}

// copyIn passes data to the guest the ABI's way: wmr_alloc(len), then a
// write into the region it returned. It returns the region's offset.
func (i *Instance) copyIn(ctx, cctx context.Context, data []byte) (uint32, error) {
	ptr, err := i.alloc(ctx, cctx, len(data))
	if err == nil && !i.mem.Write(ptr, data) {
		err = i.badRegion(ptr, len(data))
	}
	return ptr, err
}

// alloc asks the guest for a buffer of size bytes the ABI's way
// (wmr_alloc) and returns its offset.
func (i *Instance) alloc(ctx, cctx context.Context, size int) (uint32, error) {
	i.call, i.abort = abi.ExportAlloc, nil
	i.failed, i.failMsg, i.failRecord = false, "", abi.NoRecord
	i.stack[0] = api.EncodeI32(int32(size))
	i.allocating = uint64(size)
	err := i.callGuest(cctx, i.fAlloc)
	if err != nil {
		err = i.callError(ctx, err)
	}
	i.allocating = 0
	if err != nil {
		return 0, err
	}
	ptr := uint32(i.stack[0])
	if ptr == 0 {
		return 0, i.badRegion(ptr, size)
	}
	return ptr, nil
}

// badRegion is the error for a wmr_alloc result that is not a buffer of
// size bytes in the guest's memory; it breaks the instance.
func (i *Instance) badRegion(ptr uint32, size int) error {
	i.broken = true
	if i.nearMemoryLimit(uint64(size)) {
		return i.memoryError(abi.ExportAlloc)
	}
	return &ModuleError{Module: i.module.name, Call: abi.ExportAlloc, Record: abi.NoRecord, Kind: ErrMalformedOutput,
		Msg: fmt.Sprintf("returned %#x from wmr_alloc(%d), which is not a buffer of that size in its memory", ptr, size)}
}

// nearMemoryLimit reports whether growing by need bytes would pass the cap.
func (i *Instance) nearMemoryLimit(need uint64) bool {
	limit := uint64(i.module.host.MemoryLimit())
	return uint64(i.mem.Size())+need+limit/16 >= limit
}

func (i *Instance) memoryError(call string) error {
	return &ModuleError{Module: i.module.name, Call: call, Record: abi.NoRecord, Kind: ErrMemoryLimit,
		Msg: fmt.Sprintf("exceeded its %d MiB memory limit", i.module.host.MemoryLimit()>>20)}
}

// callError turns an error from a guest call into a ModuleError and marks
// the instance broken.
func (i *Instance) callError(ctx context.Context, err error) error {
	i.broken = true
	if i.abort != nil {
		var me *ModuleError
		if errors.As(i.abort, &me) {
			if me.Call == "" {
				me.Call = i.call
			}
		}
		return i.abort
	}
	if i.failed {
		// The guest reported why before it trapped (a Rust panic, a C
		// abort after wmr_fail): its words say more than the trap.
		return &ModuleError{Module: i.module.name, Call: i.call, Record: i.failRecord, Kind: ErrModuleFailed, Msg: i.failMsg, Cause: err}
	}
	if ctx.Err() != nil && i.module.host.cfg.CloseOnContextDone {
		return &ModuleError{Module: i.module.name, Call: i.call, Record: abi.NoRecord, Kind: ErrInterrupted,
			Msg: "was stopped: " + context.Cause(ctx).Error(), Cause: err}
	}
	out := i.output.String()
	// Go's runtime says "out of memory"; Rust's and AssemblyScript's
	// allocators just trap, and wmr_alloc's size shows why.
	if strings.Contains(out, "out of memory") || i.nearMemoryLimit(i.allocating) {
		return i.memoryError(i.call)
	}
	msg := "trapped: " + firstLine(err.Error())
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		msg = fmt.Sprintf("exited with code %d", exit.ExitCode())
	}
	if out != "" {
		msg += "; its output ends: " + lastLines(out, 4)
	}
	return &ModuleError{Module: i.module.name, Call: i.call, Record: abi.NoRecord, Kind: ErrTrap, Msg: msg, Cause: err}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	// Go's runtime prints "panic: ..." or "fatal error: ..." first, then
	// goroutine dumps; the first lines say most.
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// abortWith stops the guest from inside a host function.
func (i *Instance) abortWith(kind error, format string, args ...any) {
	i.abort = &ModuleError{Module: i.module.name, Call: i.call, Record: abi.NoRecord, Kind: kind, Msg: fmt.Sprintf(format, args...)}
	panic(errAborted)
}

func (i *Instance) read(ptr, n uint32, what string) []byte {
	b, ok := i.mem.Read(ptr, n)
	if !ok {
		i.abortWith(ErrMalformedOutput, "passed %s at [%#x, +%d), outside its %d-byte memory", what, ptr, n, i.mem.Size())
	}
	return b
}

func (i *Instance) hostEmit(ptr, n uint32) {
	if i.sink == nil {
		i.abortWith(ErrMalformedOutput, "called wmr.emit outside wmr_map, wmr_reduce, wmr_combine and wmr_finish")
	}
	if n > abi.MaxEmitBatch {
		i.abortWith(ErrMalformedOutput, "emitted a batch of %d bytes; the limit is %d", n, abi.MaxEmitBatch)
	}
	b := i.read(ptr, n, "an emit batch")
	i.outputBytes += int64(n)
	if max := i.module.host.cfg.MaxOutputBytes; max > 0 && i.outputBytes > max {
		i.abortWith(ErrOutputLimit, "emitted more than the task's output limit of %d MiB", max>>20)
	}
	if err := i.batch.Reset(b); err != nil {
		i.abortWith(ErrMalformedOutput, "emitted a malformed batch: %v", err)
	}
	for {
		rec, ok, err := i.batch.Next()
		if err != nil {
			i.abortWith(ErrMalformedOutput, "emitted a malformed batch: %v", err)
		}
		if !ok {
			return
		}
		if err := i.sink.Emit(rec.Key, rec.Value, rec.Partition); err != nil {
			var me *ModuleError
			if errors.As(err, &me) {
				i.abort = err
				panic(errAborted)
			}
			i.abort = &ModuleError{Module: i.module.name, Call: i.call, Record: abi.NoRecord, Kind: ErrMalformedOutput,
				Msg: "emitted a record the host cannot take: " + err.Error(), Cause: err}
			panic(errAborted)
		}
	}
}

func (i *Instance) hostNextValues(ptr, capacity uint32) int32 {
	if i.values == nil {
		return 0
	}
	buf := i.read(ptr, capacity, "a next_values buffer")
	i.cont.Reset()
	more := false
	for {
		v, ok, err := i.values.PeekValue()
		if err != nil {
			i.abort = err
			panic(errAborted)
		}
		if !ok {
			break
		}
		need := i.cont.Size() + abi.ValueSize(len(v))
		if need > int(capacity) {
			if i.cont.Len() == 0 {
				return -int32(need)
			}
			more = true
			break
		}
		i.cont.AddValue(v)
		i.values.SkipValue()
	}
	if i.cont.Len() == 0 {
		i.values = nil
		return 0
	}
	if !more {
		i.values = nil
	}
	return int32(copy(buf, i.cont.Bytes(more)))
}

func (i *Instance) hostFail(ptr, n uint32) {
	if n > 2*abi.MaxFailMessage {
		n = 2 * abi.MaxFailMessage
	}
	msg, rec, err := abi.DecodeFail(i.read(ptr, n, "a fail message"))
	if err != nil {
		i.abortWith(ErrMalformedOutput, "called wmr.fail with a malformed message: %v", err)
	}
	i.failed, i.failMsg, i.failRecord = true, msg, rec
}

func (i *Instance) hostLog(level int32, ptr, n uint32) {
	if i.logs >= maxLogsPerTask {
		return
	}
	i.logs++
	if n > abi.MaxLogMessage {
		n = abi.MaxLogMessage
	}
	msg := string(i.read(ptr, n, "a log message"))
	if i.logs == maxLogsPerTask {
		msg += " (further messages from this task are dropped)"
	}
	if i.logSink != nil { // the task keeps it; the host's log does not repeat it
		i.logSink(int(min(max(level, 0), 3)), msg)
		return
	}
	lvl := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}[min(max(level, 0), 3)]
	i.module.host.log.Log(context.Background(), lvl, msg, append([]any{"module", i.module.name}, i.logAttrs...)...)
}

func (i *Instance) hostCounter(ptr, n uint32, delta int64) {
	if n == 0 || n > abi.MaxCounterName {
		i.abortWith(ErrMalformedOutput, "used a counter name of %d bytes; names are 1 to %d bytes", n, abi.MaxCounterName)
	}
	name := i.read(ptr, n, "a counter name")
	if _, ok := i.counters[string(name)]; !ok && len(i.counters) >= maxCounters {
		i.abortWith(ErrMalformedOutput, "created more than %d counters", maxCounters)
	}
	i.counters[string(name)] += delta
}

func (i *Instance) hostAbort(msgPtr, filePtr uint32, line, col int32) {
	msg, file := readUTF16(i.mem, msgPtr), readUTF16(i.mem, filePtr)
	// AssemblyScript's throw: the module's own report of an error.
	i.abortWith(ErrModuleFailed, "aborted: %s at %s:%d:%d", msg, file, line, col)
}

// boundedBuffer keeps the first limit bytes written to it: a guest's
// stdout/stderr, where panics and runtime errors appear.
type boundedBuffer struct {
	b     []byte
	limit int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if room := w.limit - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string { return string(w.b) }
