module github.com/wmr-dev/wmr/examples-wasm

go 1.26.0

require github.com/wmr-dev/wmr v0.0.0

require (
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace github.com/wmr-dev/wmr => ../
