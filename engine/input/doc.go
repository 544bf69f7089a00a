// Package input turns what a user names as input (files, directories,
// globs) into files, the files into splits, and a split into line records.
//
// A split is a byte range of one file. It owns exactly the lines that start
// inside it: a reader whose split does not begin at offset 0 skips to the
// first line start at or after its offset, and a line that starts inside
// the split is read to its end even if that lies beyond the split. So every
// line is read exactly once whatever the block size, as in Hadoop's
// LineRecordReader.
package input
