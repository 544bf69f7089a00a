// Package task runs one attempt of one map or reduce task against a module
// instance. It is the code inside a worker process (and, for tests and
// comparisons, inside the engine's own process).
//
// A map task reads its split's lines in batches into wmr_map, partitions
// what the module emits into an in-memory sort buffer, and when the buffer
// reaches its budget sorts it, runs the module's combiner over each key's
// values, and spills a run file. At the end, spills are merged (combining
// again) into one run file with a segment per partition: the map output.
//
// A reduce task merges its partition's segments from every map output and
// feeds the module groups of (key, values) in chunks; a key whose values do
// not fit a chunk is streamed through next_values, so memory stays bounded
// whatever the number of values. Output is key<TAB>value lines written to
// the attempt's own file, which the engine commits by renaming.
package task
