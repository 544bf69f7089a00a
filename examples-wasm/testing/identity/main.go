// Command identity passes records through unchanged: map emits each input
// record's key and value, reduce each value under its key. With kv input
// and output a chained job reproduces its input's pairs byte for byte;
// with --param key=value map emits the value as the key instead (a record
// of a fixed-size or text input becomes a key).
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

func init() {
	wmr.Register(wmr.Job{Map: mapRecord, Reduce: reduceValues})
}

func main() {}

func mapRecord(key, value []byte, emit *wmr.Emitter) error {
	if wmr.Task().Param("key") == "value" {
		emit.Emit(value, nil)
		return nil
	}
	emit.Emit(key, value)
	return nil
}

func reduceValues(key []byte, values *wmr.Values, emit *wmr.Emitter) error {
	for values.Next() {
		emit.Emit(key, values.Value())
	}
	return values.Err()
}
