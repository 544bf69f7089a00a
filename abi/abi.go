package abi

import "fmt"

// Version is the ABI version this package implements. A module reports the
// version it was built for from its ExportABIVersion export; the host refuses
// a module whose version it does not implement.
const Version = 1

// Names of the functions a module exports.
const (
	ExportABIVersion = "wmr_abi_version" // () -> i32
	ExportAlloc      = "wmr_alloc"       // (size i32) -> ptr i32
	ExportInit       = "wmr_init"        // (ptr, len i32) -> i32 capability bits, or -1
	ExportMap        = "wmr_map"         // (ptr, len i32) -> i32 status
	ExportReduce     = "wmr_reduce"      // (ptr, len i32) -> i32 status
	ExportCombine    = "wmr_combine"     // (ptr, len i32) -> i32 status; optional
	// ExportPartition is optional: (key ptr, key len, R i32) -> i32, the
	// partition the module's emit gives a key. The host does not call it
	// when running jobs (emit carries partitions); wmr check does.
	ExportPartition = "wmr_partition"
	// ExportFinish is optional: () -> i32 status, the end-of-task call
	// (Hadoop's cleanup). With CapFinish the host calls it once after the
	// last wmr_map of a map task and after the last wmr_reduce of a reduce
	// task; the module may emit during it (an SDK flushes the map output
	// it combined in the module).
	ExportFinish = "wmr_finish"
	// ExportStart is the WASI reactor initialiser (Go, Rust on wasm32-wasi);
	// when present the host calls it once, before any other export.
	ExportStart = "_initialize"
)

// ImportModule is the module name of the host functions a guest may import.
const ImportModule = "wmr"

// Names of the host functions in ImportModule.
const (
	ImportEmit       = "emit"        // (ptr, len i32)
	ImportNextValues = "next_values" // (ptr, cap i32) -> i32
	ImportFail       = "fail"        // (ptr, len i32)
	ImportLog        = "log"         // (level, ptr, len i32)
	ImportCounter    = "counter"     // (ptr, len i32, delta i64)
)

// Capability bits returned by a successful wmr_init.
const (
	// CapCombine says the module's wmr_combine is a combiner the host
	// should run on map output before it leaves the map task.
	CapCombine = 1 << 0
	// CapPartitioner says the module chooses partitions itself (it emits
	// [key, value, partition] records) instead of the default FNV-1a hash.
	CapPartitioner = 1 << 1
	// CapFinish says the host must call wmr_finish at the end of every
	// task.
	CapFinish = 1 << 2
	// CapTextBlocks says the module splits text into lines itself: when
	// the init message offers it (Init.TextBlocks), every wmr_map call of
	// the task gets a text block (TextBlockHeader) instead of a record
	// batch, so the host passes the file's bytes as they are instead of
	// framing every line.
	CapTextBlocks = 1 << 3
)

// A text block (ABI.md 4.5) is array(2) [offset: uint64, lines: bin32]:
// whole lines as they are in the file, each ending in "\n" except a last
// line at the end of the file. The host always writes this header, of
// TextBlockHeader bytes; guests read any valid encoding.
const TextBlockHeader = 1 + 9 + 5

// ReadTextBlock reads a text block: the offset of its first line and its
// lines.
func ReadTextBlock(b []byte) (offset int64, lines []byte, err error) {
	d := Decoder{buf: b}
	n, err := d.ArrayLen()
	if err == nil && n != 2 {
		err = fmt.Errorf("%w: a text block has 2 fields, not %d", ErrMalformed, n)
	}
	if err == nil {
		offset, err = d.Int()
	}
	if err == nil {
		lines, err = d.Bytes()
	}
	if err == nil {
		err = d.End()
	}
	return offset, lines, err
}

// PutTextBlockHeader writes a text block's header into b (at least
// TextBlockHeader bytes) for n bytes of lines starting at offset.
func PutTextBlockHeader(b []byte, offset int64, n int) {
	_ = b[TextBlockHeader-1]
	b[0], b[1], b[10] = 0x92, 0xcf, 0xc6
	for i := range 8 {
		b[2+i] = byte(uint64(offset) >> (56 - 8*i))
	}
	b[11], b[12], b[13], b[14] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// Status codes returned by wmr_map, wmr_reduce and wmr_combine.
const (
	StatusOK    = 0
	StatusError = -1 // the guest reported the error through the fail import first
)

// Log levels for the log import.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// Limits the host enforces and guests can rely on.
const (
	// MaxEmitBatch is the largest batch a guest may pass to emit at once.
	MaxEmitBatch = 16 << 20
	// MaxCounterName is the longest counter name, in bytes.
	MaxCounterName = 128
	// MaxLogMessage is the longest log message kept; longer ones are cut.
	MaxLogMessage = 4 << 10
	// MaxFailMessage is the longest error message kept; longer ones are cut.
	MaxFailMessage = 16 << 10
)

// NoRecord is the record index of a failure that is not tied to one record.
const NoRecord = -1
