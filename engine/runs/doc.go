// Package runs holds sorted runs of key/value records: the in-memory sort
// buffer a map task fills, the on-disk run file it spills to, and the k-way
// merge that reads many runs as one sorted stream.
//
// Order is (partition, key bytewise, arrival). Ties between equal keys keep
// the order records arrived in (within a buffer) and the order of the runs
// given to a merge (across runs), so the values a reducer sees for a key
// come in the same order on every run of the same job: output is
// deterministic.
//
// A run file holds one segment per partition, back to back; each record is
// uvarint(len(key)) uvarint(len(value)) key value. The file's Index (the
// segment boundaries) is kept by whoever wrote it and written beside it.
package runs
