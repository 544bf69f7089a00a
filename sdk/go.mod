module github.com/wmr-dev/wmr/sdk

go 1.26.0

require github.com/wmr-dev/wmr/abi v0.0.0

// In a checkout, the abi module beside this one. A project that uses the
// SDK replaces both modules (replaces here apply only to the SDK's own
// tests): see go/README.md.
replace github.com/wmr-dev/wmr/abi => ../abi
