package wmr

// Emit outputs a key/value pair. Both slices are copied.
//
// In a module it is small enough to inline: the call goes straight to
// emitCounted, hand-written WebAssembly that counts the pair in the
// combine table when it can, and hands it to emitPair otherwise.
func (e *Emitter) Emit(key, value []byte) { emitCounted(e, key, value) }

// emitCounted is emitPair with the combine table's common case done in
// hand-written WebAssembly (emit_wasm.s): with Sum as the combiner, a
// value of one decimal digit (a word count's "1") for a key of up to 16
// bytes already in the table. Go's own wasm code for it went through the
// function's dispatch loop at every branch and kept its arguments in
// linear memory; this takes a fraction of the time.
//
//go:noescape
func emitCounted(e *Emitter, key, value []byte)

// handedOver counts the pairs emitCounted handed to emitPair: a test
// checks that a key already in the table never is.
var handedOver int
