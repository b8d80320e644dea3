// Package readme holds the test that runs the examples of the README and
// the clients' READMEs against a real dev agent: every shell block, and
// the blocks marked as complete programs, so that the documentation keeps
// saying what the product does. See readme_test.go for the rules a block
// follows.
package readme
