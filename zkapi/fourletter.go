package zkapi

import (
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// ZooKeeper's four-letter words this server answers; the others (and
// every word on an established session) are not recognised.
var fourLetterWords = map[string]bool{"ruok": true, "srvr": true, "stat": true, "mntr": true, "isro": true, "envi": true}

func isFourLetterWord(b [4]byte) bool { return fourLetterWords[string(b[:])] }

// fourLetterWord writes the word's answer; the caller closes the
// connection.
func (c *conn) fourLetterWord(word string) {
	var text string
	switch word {
	case "ruok":
		text = "imok"
	case "isro": // a read-only-capable client looking for a read-write server
		text = "rw"
	case "srvr":
		text = c.s.srvr(false)
	case "stat":
		text = c.s.srvr(true)
	case "mntr":
		text = c.s.mntr()
	case "envi":
		text = c.s.envi()
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, _ = c.nc.Write([]byte(text))
}

// versionChars are what tools that parse srvr accept in a version.
var versionChars = regexp.MustCompile(`[^A-Za-z0-9.\-]`)

// zkVersion is what srvr reports as the ZooKeeper version: the protocol
// level this server speaks, then Warden's own version.
func (s *Server) zkVersion() string {
	return "3.9.0-warden-" + versionChars.ReplaceAllString(s.cfg.Version, "-")
}

// mode is the ZooKeeper role closest to this agent's: a server agent is
// the leader or a follower, a replica an observer.
func (s *Server) mode() string {
	st := s.backend.Status()
	switch {
	case st.Role != "server":
		return "observer"
	case strings.EqualFold(st.State, "leader"):
		return "leader"
	}
	return "follower"
}

func (s *Server) srvr(clients bool) string {
	st := s.backend.Status()
	var b strings.Builder
	fmt.Fprintf(&b, "Zookeeper version: %s, built on %s\n", s.zkVersion(), s.started.UTC().Format("01/02/2006 15:04 MST"))
	if clients {
		b.WriteString("Clients:\n")
		s.mu.Lock()
		var addrs []string
		for c := range s.conns {
			addrs = append(addrs, fmt.Sprintf(" %s[1](queued=%d)", c.nc.RemoteAddr(), len(c.reqs)))
		}
		s.mu.Unlock()
		sort.Strings(addrs)
		for _, a := range addrs {
			b.WriteString(a + "\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Latency min/avg/max: 0/0.0/0\n")
	fmt.Fprintf(&b, "Received: %d\nSent: %d\nConnections: %d\nOutstanding: 0\n", s.received.Load(), s.sent.Load(), s.Connections())
	fmt.Fprintf(&b, "Zxid: 0x%x\nMode: %s\nNode count: %d\n", st.AppliedIndex, s.mode(), st.Znodes)
	return b.String()
}

// envi is ZooKeeper's environment listing, with what Warden has: tools
// (kazoo's server_version) read zookeeper.version from it.
func (s *Server) envi() string {
	var b strings.Builder
	b.WriteString("Environment:\n")
	for _, kv := range [][2]string{
		{"zookeeper.version", s.zkVersion() + ", built on " + s.started.UTC().Format("01/02/2006 15:04 MST")},
		{"host.name", s.backend.Name()},
		{"warden.version", s.cfg.Version},
		{"os.name", runtime.GOOS},
		{"os.arch", runtime.GOARCH},
	} {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	return b.String()
}

func (s *Server) mntr() string {
	st := s.backend.Status()
	lines := [][2]string{
		{"zk_version", s.zkVersion()},
		{"zk_server_state", s.mode()},
		{"zk_packets_received", fmt.Sprint(s.received.Load())},
		{"zk_packets_sent", fmt.Sprint(s.sent.Load())},
		{"zk_num_alive_connections", fmt.Sprint(s.Connections())},
		{"zk_outstanding_requests", "0"},
		{"zk_znode_count", fmt.Sprint(st.Znodes)},
		{"zk_zxid", fmt.Sprintf("0x%x", st.AppliedIndex)},
		{"zk_open_sessions", fmt.Sprint(st.Sessions)},
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l[0] + "\t" + l[1] + "\n")
	}
	return b.String()
}
