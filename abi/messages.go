package abi

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Task kinds named in Init.TaskKind.
const (
	TaskMap    = "map"
	TaskReduce = "reduce"
)

// Init is the message passed to wmr_init: the job's parameters and the task
// context. It is a msgpack map keyed by the field names in the tags; a
// guest must ignore keys it does not know (later minor additions).
type Init struct {
	ABI       int    `msgpack:"abi"`
	JobID     string `msgpack:"job_id"`
	TaskID    string `msgpack:"task_id"`
	TaskKind  string `msgpack:"task_kind"`
	Attempt   int    `msgpack:"attempt"`
	InputFile string `msgpack:"input_file"`
	// InputFormat is what a map task's records are: "text" (key = the
	// line's offset), "fixed:N" (key = the record's offset) or "kv" (the
	// keys and values a job wrote). Compression is undone before.
	InputFormat   string            `msgpack:"input_format"`
	SplitOffset   int64             `msgpack:"split_offset"`
	SplitLength   int64             `msgpack:"split_length"`
	Partition     int               `msgpack:"partition"`
	NumPartitions int               `msgpack:"num_partitions"`
	Params        map[string]string `msgpack:"params"`
	// MemoryLimit is the task's cap on guest linear memory in bytes, so an
	// SDK can size what it keeps in memory (a combining table) within it.
	MemoryLimit int64 `msgpack:"memory_limit"`
	// Finish says the host makes the end-of-task call (wmr_finish) for a
	// module that asks for it (CapFinish). A guest must not rely on the
	// call unless it is set: an older host never makes it.
	Finish bool `msgpack:"finish"`
}

// EncodeInit encodes an Init message.
func EncodeInit(m *Init) ([]byte, error) {
	b, err := msgpack.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode init message: %w", err)
	}
	return b, nil
}

// DecodeInit decodes an Init message.
func DecodeInit(b []byte) (*Init, error) {
	var m Init
	if err := msgpack.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode init message: %w", err)
	}
	return &m, nil
}

// AppendFail appends the payload of the fail import: [message, record].
func AppendFail(b []byte, message string, record int) []byte {
	b = append(b, mpFixArray|2)
	n := len(message)
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
	b = append(b, message...)
	return AppendInt(b, int64(record))
}

// DecodeFail decodes the payload of the fail import. record is NoRecord
// when the failure is not tied to a record.
func DecodeFail(b []byte) (message string, record int, err error) {
	var d Decoder
	d.Reset(b)
	n, err := d.ArrayLen()
	if err != nil {
		return "", 0, err
	}
	if n != 2 {
		return "", 0, fmt.Errorf("%w: fail payload is an array of 2 items, found %d", ErrMalformed, n)
	}
	msg, err := d.Bytes()
	if err != nil {
		return "", 0, err
	}
	idx, err := d.Int()
	if err != nil {
		return "", 0, err
	}
	if idx < NoRecord || idx > 1<<31-1 {
		idx = NoRecord
	}
	if err := d.End(); err != nil {
		return "", 0, err
	}
	if len(msg) > MaxFailMessage {
		msg = msg[:MaxFailMessage]
	}
	return string(msg), int(idx), nil
}
