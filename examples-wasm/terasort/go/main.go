// Command terasort sorts the sort benchmark's 100-byte records by their
// 10-byte keys: run it over --input-format fixed:100 with --partitioner
// range and --output-format fixed:100, and the part files read in order
// are the records in key order (records with equal keys in input order).
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

func init() {
	wmr.Register(wmr.Job{Map: byKey, Reduce: writeRecords})
}

func main() {}

func byKey(_, rec []byte, emit *wmr.Emitter) error {
	if len(rec) < 10 {
		return nil
	}
	emit.Emit(rec[:10], rec)
	return nil
}

func writeRecords(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
	for values.Next() {
		emit.Emit(key, values.Value())
	}
	return values.Err()
}
