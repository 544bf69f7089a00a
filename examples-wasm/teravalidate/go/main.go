// Command teravalidate checks the sort benchmark's output: run it with one
// reducer over the part files of a sort (--input-format fixed:100). Each
// map task checks that its records are in key order and sums their
// CRC-32s (IEEE, as Hadoop's TeraValidate); the reduce checks the order
// across splits and files (in the order of their names and offsets) and
// writes records<TAB>N, checksum<TAB>HEX (the same before and after a
// sort) and order<TAB>ok, or misordered<TAB>K with the first place found.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

// Map state: one split.
var (
	first, last       []byte
	count, misordered uint64
	sum               uint64
	firstBad          string
)

// Reduce state: every split, in order.
var (
	total, totalBad, totalSum uint64
	prevLast                  []byte
	prevSplit, badAt          string
)

func init() {
	wmr.Register(wmr.Job{
		Init: func(*wmr.TaskContext) error {
			first, last, count, misordered, sum, firstBad = nil, nil, 0, 0, 0, ""
			total, totalBad, totalSum, prevLast, prevSplit, badAt = 0, 0, 0, nil, "", ""
			return nil
		},
		Map:    check,
		Reduce: join,
		Finish: finish,
	})
}

func main() {}

func check(offset, rec []byte, _ *wmr.Emitter) error {
	if len(rec) != 100 {
		return fmt.Errorf("a record of %d bytes: teravalidate reads --input-format fixed:100", len(rec))
	}
	key := rec[:10]
	if last != nil && bytes.Compare(key, last) < 0 {
		if misordered == 0 {
			firstBad = fmt.Sprintf("%s at byte %d", wmr.Task().InputFile, binary.BigEndian.Uint64(offset))
		}
		misordered++
	}
	if first == nil {
		first = bytes.Clone(key)
	}
	last = append(last[:0], key...)
	count++
	sum += uint64(crc32.ChecksumIEEE(rec))
	return nil
}

// summary is one split's findings: first key, last key, then count,
// misordered and checksum as 8-byte big-endian numbers, then where the
// first misordered record is.
func finish(emit *wmr.Emitter) error {
	t := wmr.Task()
	if t.TaskKind != "map" {
		if prevSplit == "" && total == 0 {
			return nil
		}
		emit.EmitString("checksum", strconv.FormatUint(totalSum, 16))
		if totalBad == 0 {
			emit.EmitString("order", "ok")
		} else {
			emit.EmitString("order", fmt.Sprintf("misordered %d, first at %s", totalBad, badAt))
		}
		emit.EmitString("records", strconv.FormatUint(total, 10))
		return nil
	}
	if count == 0 {
		return nil
	}
	v := make([]byte, 0, 44+len(firstBad))
	v = append(v, first...)
	v = append(v, last...)
	v = binary.BigEndian.AppendUint64(v, count)
	v = binary.BigEndian.AppendUint64(v, misordered)
	v = binary.BigEndian.AppendUint64(v, sum)
	v = append(v, firstBad...)
	// Splits sort by file name, then offset: the order of a sort's output.
	emit.Emit([]byte(fmt.Sprintf("%s\x00%020d", t.InputFile, t.SplitOffset)), v)
	return nil
}

func join(split []byte, values *wmr.Values, _ *wmr.Emitter) error {
	name, _, _ := bytes.Cut(split, []byte{0})
	for values.Next() {
		v := values.Value()
		if len(v) < 44 {
			return fmt.Errorf("a split summary of %d bytes", len(v))
		}
		f, l := v[:10], v[10:20]
		n, bad, s := binary.BigEndian.Uint64(v[20:]), binary.BigEndian.Uint64(v[28:]), binary.BigEndian.Uint64(v[36:])
		if prevLast != nil && bytes.Compare(f, prevLast) < 0 {
			if totalBad == 0 {
				badAt = fmt.Sprintf("the start of %s (after %s)", name, prevSplit)
			}
			totalBad++
		}
		if bad > 0 && totalBad == 0 {
			badAt = string(v[44:])
		}
		totalBad += bad
		total += n
		totalSum += s
		prevLast = append(prevLast[:0], l...)
		prevSplit = string(name)
	}
	return values.Err()
}
