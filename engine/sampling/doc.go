// Package sampling is the range partitioner's deterministic core: where in
// a job's input to read a sample, which split points the sampled keys give,
// and which partition a key belongs to.
//
// A job with the range partitioner (wmr run --partitioner range, Hadoop's
// TotalOrderPartitioner, Spark's RangePartitioner) first runs its map
// function over windows spread evenly across the whole input (Plan). The
// keys it emits there are sorted and cut into R equal parts (Bounds); the
// real map tasks then send a key to the number of split points at or below
// it (Partition), so reduce task p only receives keys below those of task
// p+1, and the part files read in order are one sorted sequence. Sampling
// windows across the whole input rather than the first records of a few
// splits (what TeraSort does) keeps the split points honest for input that
// is sorted or clustered within its files.
package sampling
