package zkcompat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ZooKeeperClasspath is where Debian's zookeeper package (installed by
// install.sh, as make bench-peers installs it) puts the server's jar,
// whose manifest names its dependencies, and the log4j binding.
var ZooKeeperClasspath = []string{
	"/usr/share/java/zookeeper.jar",
	"/usr/share/java/slf4j-log4j12.jar",
	"/usr/share/java/log4j-1.2.jar",
}

// ZooKeeperProps are the JVM system properties every server gets: TTL
// nodes on (extended types), and the container manager checking every
// 100 ms instead of every minute, so that TTL and container nodes go
// within the tests' bounded waits.
var ZooKeeperProps = []string{
	"-Dzookeeper.extendedTypesEnabled=true",
	"-Dznode.container.checkIntervalMs=100",
	"-Dzookeeper.admin.enableServer=false",
}

const zkLog4j = `log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
`

// zkServer is one ZooKeeper server process.
type zkServer struct {
	addr, dir string
	argv      []string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// ZooKeeper is a real ZooKeeper on 127.0.0.1: standalone, or an
// ensemble (every server on its own free ports).
type ZooKeeper struct {
	t       testing.TB
	mu      sync.Mutex
	servers []*zkServer
}

// StartZooKeeper starts n servers (1: standalone) with their data in the
// test's temporary directory and waits until each serves clients; they
// are SIGKILLed when the test ends.
func StartZooKeeper(t testing.TB, n int) *ZooKeeper {
	t.Helper()
	for _, j := range ZooKeeperClasspath {
		if _, err := os.Stat(j); err != nil {
			t.Fatalf("ZooKeeper is not installed (systest/zkcompat/install.sh installs Debian's zookeeper): %v", err)
		}
	}
	z := &ZooKeeper{t: t}
	t.Cleanup(z.stop)
	type ports struct{ client, peer, election int }
	ps := make([]ports, n)
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t), freePort(t)}
	}
	root := t.TempDir()
	for i := range ps {
		dir := filepath.Join(root, fmt.Sprintf("zk%d", i+1))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\n", filepath.Join(dir, "data"))
		fmt.Fprintf(&cfg, "clientPort=%d\nclientPortAddress=127.0.0.1\n", ps[i].client)
		cfg.WriteString("maxClientCnxns=0\n4lw.commands.whitelist=srvr,ruok\n")
		if n > 1 {
			for j, p := range ps {
				fmt.Fprintf(&cfg, "server.%d=127.0.0.1:%d:%d\n", j+1, p.peer, p.election)
			}
		}
		files := map[string]string{"zoo.cfg": cfg.String(), "log4j.properties": zkLog4j, "data/myid": fmt.Sprintf("%d\n", i+1)}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		argv := append([]string{"java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Dzookeeper.log.dir=" + dir, "-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties")},
			ZooKeeperProps...)
		argv = append(argv, "-cp", strings.Join(append([]string{dir}, ZooKeeperClasspath...), ":"),
			"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg"))
		s := &zkServer{addr: fmt.Sprintf("127.0.0.1:%d", ps[i].client), dir: dir, argv: argv}
		z.servers = append(z.servers, s)
		if err := z.spawn(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range z.servers {
		if err := z.waitServing(s, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return z
}

func (z *ZooKeeper) spawn(s *zkServer) error {
	log, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	s.cmd = exec.Command(s.argv[0], s.argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	// Gone with the test process even when it dies without cleaning up
	// (go test's timeout).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start zookeeper: %w", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.exited)
	return nil
}

// waitServing waits until s says (srvr) that it serves: standalone, or
// leader or follower of a quorum.
func (z *ZooKeeper) waitServing(s *zkServer, timeout time.Duration) error {
	dead := func() error {
		select {
		case <-s.exited:
			out, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("zookeeper %s exited at start:\n%s", s.addr, out)
		default:
			return nil
		}
	}
	if err := waitTCP(s.addr, timeout, dead); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		out, _ := fourLetter(s.addr, "srvr")
		if strings.Contains(out, "Mode: ") {
			return nil
		}
		if err := dead(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zookeeper %s not serving within %v (srvr: %q)", s.addr, timeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (z *ZooKeeper) stop() {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, s := range z.servers {
		z.kill(s)
		if z.t.Failed() {
			if out, err := os.ReadFile(filepath.Join(s.dir, "server.log")); err == nil && len(out) > 0 {
				z.t.Logf("zookeeper %s log:\n%s", s.addr, out)
			}
		}
	}
}

func (z *ZooKeeper) kill(s *zkServer) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// Name implements Target.
func (z *ZooKeeper) Name() string { return "zookeeper" }

// Hosts implements Target.
func (z *ZooKeeper) Hosts() string { return strings.Join(z.Servers(), ",") }

// Servers implements Target.
func (z *ZooKeeper) Servers() []string {
	var a []string
	for _, s := range z.servers {
		a = append(a, s.addr)
	}
	return a
}

func (z *ZooKeeper) byAddr(addr string) (*zkServer, error) {
	for _, s := range z.servers {
		if s.addr == addr {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no zookeeper server at %s", addr)
}

// Kill implements Target.
func (z *ZooKeeper) Kill(addr string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	s, err := z.byAddr(addr)
	if err != nil {
		return err
	}
	z.kill(s)
	return nil
}

// Restart implements Target.
func (z *ZooKeeper) Restart(addr string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	s, err := z.byAddr(addr)
	if err != nil {
		return err
	}
	select {
	case <-s.exited:
	default:
		return fmt.Errorf("zookeeper %s is still running", addr)
	}
	if err := z.spawn(s); err != nil {
		return err
	}
	return z.waitServing(s, 90*time.Second)
}
