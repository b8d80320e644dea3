// Package dist checks the release artifacts that deploy/dist.sh (make
// dist) writes: the archives per architecture, the clients' packages and
// SHA256SUMS.
package dist
