package abi

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Task kinds named in Init.TaskKind.
const (
	TaskMap    = "map"
	TaskReduce = "reduce"
	// TaskCombine is a combine task of the reduce tree: the host calls
	// only wmr_combine (with keys of every partition, partition by
	// partition). A module treats any kind but "map" as not a map task.
	TaskCombine = "combine"
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
	// TextBlocks offers text blocks (ABI.md 4.5): a module that returns
	// CapTextBlocks from wmr_init then gets every wmr_map call of this
	// task as a text block of whole lines, and splits them itself.
	// Offered only to map tasks of uncompressed text.
	TextBlocks bool `msgpack:"text_blocks"`
}

// EncodeInit encodes an Init message as a reflective encoder (such as
// vmihailenco/msgpack) writes it, so every SDK reads the bytes it always
// has: a map of the field names in the tags, in declaration order; strings
// as str; int fields in their shortest encoding, int64 fields as int64;
// Params nil when nil, else with its keys sorted (same message, same
// bytes). The error is always nil; it stays for callers' sake.
func EncodeInit(m *Init) ([]byte, error) {
	b := make([]byte, 0, 256)
	str := func(k, v string) { b = appendStr(appendStr(b, k), v) }
	num := func(k string, v int64) { b = AppendInt(appendStr(b, k), v) }
	num64 := func(k string, v int64) { // int64 fields: always the 9-byte int64
		b = binary.BigEndian.AppendUint64(append(appendStr(b, k), mpInt64), uint64(v))
	}
	b = append(b, mpFixMap|15)
	num("abi", int64(m.ABI))
	str("job_id", m.JobID)
	str("task_id", m.TaskID)
	str("task_kind", m.TaskKind)
	num("attempt", int64(m.Attempt))
	str("input_file", m.InputFile)
	str("input_format", m.InputFormat)
	num64("split_offset", m.SplitOffset)
	num64("split_length", m.SplitLength)
	num("partition", int64(m.Partition))
	num("num_partitions", int64(m.NumPartitions))
	b = appendStr(b, "params")
	if m.Params == nil {
		b = append(b, mpNil)
	} else {
		keys := make([]string, 0, len(m.Params))
		for k := range m.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = appendMapHeader(b, len(keys))
		for _, k := range keys {
			str(k, m.Params[k])
		}
	}
	num64("memory_limit", m.MemoryLimit)
	b = AppendBool(appendStr(b, "finish"), m.Finish)
	b = AppendBool(appendStr(b, "text_blocks"), m.TextBlocks)
	return b, nil
}

// DecodeInit decodes an Init message. Keys it does not know are skipped
// (a later host may send more), and any msgpack encoding of each field's
// type is accepted, nil included.
func DecodeInit(b []byte) (*Init, error) {
	m, err := decodeInit(b)
	if err != nil {
		return nil, fmt.Errorf("decode init message: %w", err)
	}
	return m, nil
}

func decodeInit(b []byte) (*Init, error) {
	var m Init
	d := NewDecoder(b)
	n, err := d.MapLen()
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		key, err := d.Bytes()
		if err != nil {
			return nil, err
		}
		if d.Nil() {
			continue
		}
		switch string(key) {
		case "abi":
			err = decodeIntField(d, &m.ABI)
		case "job_id":
			m.JobID, err = d.str()
		case "task_id":
			m.TaskID, err = d.str()
		case "task_kind":
			m.TaskKind, err = d.str()
		case "attempt":
			err = decodeIntField(d, &m.Attempt)
		case "input_file":
			m.InputFile, err = d.str()
		case "input_format":
			m.InputFormat, err = d.str()
		case "split_offset":
			m.SplitOffset, err = d.Int()
		case "split_length":
			m.SplitLength, err = d.Int()
		case "partition":
			err = decodeIntField(d, &m.Partition)
		case "num_partitions":
			err = decodeIntField(d, &m.NumPartitions)
		case "params":
			m.Params, err = decodeParams(d)
		case "memory_limit":
			m.MemoryLimit, err = d.Int()
		case "finish":
			m.Finish, err = d.Bool()
		case "text_blocks":
			m.TextBlocks, err = d.Bool()
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", key, err)
		}
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return &m, nil
}

func decodeIntField(d *Decoder, v *int) error {
	n, err := d.Int()
	if err != nil {
		return err
	}
	if int64(int(n)) != n {
		return fmt.Errorf("%w: %d does not fit an int", ErrMalformed, n)
	}
	*v = int(n)
	return nil
}

func decodeParams(d *Decoder) (map[string]string, error) {
	n, err := d.MapLen()
	if err != nil {
		return nil, err
	}
	params := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if d.Nil() {
			params[k] = ""
			continue
		}
		v, err := d.str()
		if err != nil {
			return nil, err
		}
		params[k] = v
	}
	return params, nil
}

// AppendFail appends the payload of the fail import: [message, record].
func AppendFail(b []byte, message string, record int) []byte {
	b = appendStr(append(b, mpFixArray|2), message)
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
