module github.com/wmr-dev/wmr/abi

go 1.26.0
