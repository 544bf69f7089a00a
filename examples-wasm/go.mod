module github.com/wmr-dev/wmr/examples-wasm

go 1.26.0

require github.com/wmr-dev/wmr/sdk v0.0.0

require github.com/wmr-dev/wmr/abi v0.0.0 // indirect

replace (
	github.com/wmr-dev/wmr/abi => ../abi
	github.com/wmr-dev/wmr/sdk => ../sdk
)
