// Package zkcompat is the acceptance harness for Warden's ZooKeeper front
// door (warden agent --zk-port): it proves that existing ZooKeeper clients
// work unchanged by running the same checks against a real ZooKeeper
// (Debian's package) and against a Warden cluster. It provides the
// targets (Start); the checks are its tests: a differential transcript
// through go-zookeeper, kazoo's recipes (kazoo/), zkCli, and Curator's
// recipes (curator/). They run only when ZK_TARGET names a target
// (zookeeper, warden or both); docs/zookeeper-tests.md says how.
package zkcompat
