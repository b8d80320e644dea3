// Package zookeeper runs a three-server ZooKeeper ensemble from Debian's
// zookeeper package (the jars only, never its service) and implements the
// benchmark's client API with go-zookeeper and Curator-style recipes:
// locks and elections are ephemeral-sequential nodes, each waiting on its
// predecessor's node.
package zookeeper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// DefaultClasspath is where Debian's zookeeper package puts the server's
// jar (whose manifest names its dependencies) and the log4j binding that
// the package's own configuration uses.
var DefaultClasspath = []string{
	"/usr/share/java/zookeeper.jar",
	"/usr/share/java/slf4j-log4j12.jar",
	"/usr/share/java/log4j-1.2.jar",
}

// System is ZooKeeper. The zero value is usable.
type System struct {
	// Java is the java binary ("java" when empty).
	Java string
	// Classpath overrides DefaultClasspath.
	Classpath []string
	// Heap is the server's -Xmx (zkServer.sh's default, 1000m, when empty).
	Heap string
	// SessionTimeout is the clients' session timeout when DialOptions
	// give none (10 s when zero).
	SessionTimeout time.Duration
}

// Name implements system.System.
func (s *System) Name() string { return "zookeeper" }

const log4j = `log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
`

// config is a server's zoo.cfg: ZooKeeper's defaults (tickTime 2000,
// forceSync on, which fsyncs the transaction log before acking), the admin
// server off, and the ensemble on the three loopback addresses.
func config(dir string, ips []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=2181\n", dir)
	b.WriteString("admin.enableServer=false\nmaxClientCnxns=0\n4lw.commands.whitelist=srvr,mntr,ruok\n")
	for i, ip := range ips {
		fmt.Fprintf(&b, "server.%d=%s:2888:3888\n", i+1, ip)
	}
	return b.String()
}

// Start implements system.System.
func (s *System) Start(ctx context.Context, o system.StartOptions) (system.Cluster, error) {
	cp := s.Classpath
	if len(cp) == 0 {
		cp = DefaultClasspath
	}
	for _, j := range cp {
		if _, err := os.Stat(j); err != nil {
			return nil, fmt.Errorf("zookeeper jar missing (apt-get install zookeeper): %w", err)
		}
	}
	java, heap := s.Java, s.Heap
	if java == "" {
		java = "java"
	}
	if heap == "" {
		heap = "1000m"
	}
	c := &system.Peers{}
	for i, ip := range o.IPs {
		dir := filepath.Join(o.Dir, fmt.Sprintf("zk%d", i+1))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			return nil, err
		}
		cfg := config(filepath.Join(dir, "data"), o.IPs)
		cfg += fmt.Sprintf("clientPortAddress=%s\n", ip)
		files := map[string]string{
			"zoo.cfg":          cfg,
			"log4j.properties": log4j,
			"data/myid":        fmt.Sprintf("%d\n", i+1),
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				return nil, err
			}
		}
		argv := []string{java, "-Xmx" + heap, "-Dzookeeper.log.dir=" + dir,
			"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
			"-cp", strings.Join(append([]string{dir}, cp...), ":"),
			"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg")}
		p, err := system.StartProc(fmt.Sprintf("zk%d", i+1), filepath.Join(dir, "server.log"), nil, argv...)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Add(p, ip+":2181")
	}
	if err := ready(ctx, s, c); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// ready waits until every server listens and a client can write.
func ready(ctx context.Context, s *System, c *system.Peers) error {
	return c.Ready(ctx, 90*time.Second, "zookeeper ensemble accepts a write", func(ctx context.Context) error {
		return system.WriteOnce(ctx, s, c.Endpoint(), "/bench/ready")
	})
}
