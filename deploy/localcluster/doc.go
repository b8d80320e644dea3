// Package localcluster tests deploy/local-cluster.sh, the script that runs
// a cluster on loopback addresses for trying failures by hand: start,
// kill, stop and restart agents by name, status, and teardown.
package localcluster
