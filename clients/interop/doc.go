// Package interop tests the Go, Python and TypeScript clients against each
// other through a real cluster: apps written with different clients
// contend for one lock through different agents. Its test needs the Python
// client's virtual environment and the TypeScript client's build, which
// `make test` prepares (clients/python/test.sh, clients/typescript/test.sh)
// before it runs the Go tests with WARDEN_INTEROP=1.
package interop
