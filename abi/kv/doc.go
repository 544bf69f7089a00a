// Package kv reads and writes wmr's key/value record files (the kv
// format, specified in abi/KV.md): binary keys and values of any bytes,
// length-prefixed, in blocks that each carry a CRC-32C, so a file can be
// split at block boundaries and damage is detected before a record is
// handed on. A job writes kv with --output-format kv and reads it back
// with the original keys and values; this package is what users' own
// tools read it with (it depends on nothing but the standard library).
package kv
