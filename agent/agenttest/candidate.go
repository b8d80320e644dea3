package agenttest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// Election candidates as real processes. A test package that starts them
// declares
//
//	func TestElectionCandidateHelper(t *testing.T) { agenttest.CandidateHelper(t) }
//
// and StartCandidate runs its own test binary again as that test. The
// candidate dials an agent, campaigns, and appends to its own log the moment
// it believes it leads ("elected TOKEN NS", written as soon as Campaign
// returns) and the moment it stops ("lost NS", when its session is lost or
// its connection ends). A candidate the test SIGKILLs stops believing when
// it is killed; Kill notes that time.

// CandidateHelperTest is the test StartCandidate runs in a new process.
const CandidateHelperTest = "TestElectionCandidateHelper"

const (
	candidateLogEnv    = "WARDEN_TEST_CANDIDATE_LOG" // set only in candidate processes
	candidateSocketEnv = "WARDEN_TEST_CANDIDATE_SOCKET"
	candidatePathEnv   = "WARDEN_TEST_CANDIDATE_PATH"
)

// CandidateHelper is the body of a candidate process. In a normal test run
// (not started by StartCandidate) it skips.
func CandidateHelper(t *testing.T) {
	logPath := os.Getenv(candidateLogEnv)
	if logPath == "" {
		t.Skip("runs only as a candidate process started by StartCandidate")
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(3)
	}
	say := func(format string, a ...any) { fmt.Fprintf(log, format+"\n", a...) }
	lost := make(chan struct{})
	var once sync.Once
	ctx := context.Background()
	c, err := warden.Dial(ctx, warden.Options{Socket: os.Getenv(candidateSocketEnv), Name: "candidate", OnSessionState: func(s string) {
		if s == "lost" {
			once.Do(func() { close(lost) })
		}
	}})
	if err != nil {
		say("error dial: %v", err)
		os.Exit(2)
	}
	say("session %d", c.SessionID())
	l, err := c.Campaign(ctx, os.Getenv(candidatePathEnv), []byte(filepath.Base(logPath)))
	if err != nil {
		say("error campaign: %v", err)
		os.Exit(2)
	}
	say("elected %d %d", l.Token, time.Now().UnixNano())
	select {
	case <-lost:
	case <-c.Done():
	}
	say("lost %d", time.Now().UnixNano())
	os.Exit(1)
}

// Candidate is one candidate process.
type Candidate struct {
	Name   string
	Agent  *Proc
	Log    string    // the candidate's log file
	Killed time.Time // when Kill sent SIGKILL, or zero
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartCandidate starts a process that campaigns in the election at path
// through agent p, its value the base name of its log (NAME.log in dir).
// It is killed when the test ends.
func StartCandidate(t testing.TB, p *Proc, path, dir, name string) *Candidate {
	t.Helper()
	c := &Candidate{Name: name, Agent: p, Log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+CandidateHelperTest+"$")
	c.cmd.Env = append(os.Environ(), candidateLogEnv+"="+c.Log, candidateSocketEnv+"="+p.Socket, candidatePathEnv+"="+path)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// Value is the value the candidate campaigns with.
func (c *Candidate) Value() string { return filepath.Base(c.Log) }

// Kill SIGKILLs the candidate, notes when, and waits for it to go. The
// time is taken just before the signal: on a busy machine the candidate
// can be gone, its session closed and its successor elected before this
// process runs again after the signal call, and a time taken then would
// make the two leaderships overlap.
func (c *Candidate) Kill(t testing.TB) time.Time {
	t.Helper()
	c.Killed = time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
	return c.Killed
}

// CandidateLog is what a candidate wrote.
type CandidateLog struct {
	Session uint64
	Elected time.Time // when it came to believe it leads; zero if never
	Token   uint64
	Lost    time.Time // when it stopped, if it noticed; zero if not
	Errors  []string
}

// Read reads the candidate's log.
func (c *Candidate) Read(t testing.TB) CandidateLog {
	t.Helper()
	var l CandidateLog
	f, err := os.Open(c.Log)
	if errors.Is(err, os.ErrNotExist) {
		return l
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		num := func(i int) int64 {
			if i >= len(fields) {
				return 0
			}
			n, _ := strconv.ParseInt(fields[i], 10, 64)
			return n
		}
		switch fields[0] {
		case "session":
			l.Session = uint64(num(1))
		case "elected":
			l.Token, l.Elected = uint64(num(1)), time.Unix(0, num(2))
		case "lost":
			l.Lost = time.Unix(0, num(1))
		default:
			l.Errors = append(l.Errors, sc.Text())
		}
	}
	return l
}

// WaitElected waits until the candidate says it leads, and fails the test
// if it reports an error instead.
func (c *Candidate) WaitElected(t testing.TB, timeout time.Duration) CandidateLog {
	t.Helper()
	var l CandidateLog
	Eventually(t, timeout, c.Name+" to be elected", func() bool {
		l = c.Read(t)
		if len(l.Errors) > 0 {
			t.Fatalf("%s: %v", c.Name, l.Errors)
		}
		return !l.Elected.IsZero()
	})
	return l
}

// CheckOneLeader is an invariant checker over candidates' logs: each
// candidate believed it led from "elected" until it was killed or wrote
// "lost" (or, still running, until now). No two such intervals may
// overlap, and tokens must strictly increase from one leader to the next.
// It returns the number of leaders checked.
func CheckOneLeader(t testing.TB, cands []*Candidate) int {
	t.Helper()
	type interval struct {
		name       string
		start, end time.Time
		token      uint64
	}
	var ivs []interval
	for _, c := range cands {
		l := c.Read(t)
		if len(l.Errors) > 0 {
			t.Errorf("%s: %v", c.Name, l.Errors)
		}
		if l.Elected.IsZero() {
			continue
		}
		end := time.Now()
		if !c.Killed.IsZero() {
			end = c.Killed
		}
		if !l.Lost.IsZero() && l.Lost.Before(end) {
			end = l.Lost
		}
		ivs = append(ivs, interval{c.Name, l.Elected, end, l.Token})
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].start.Before(ivs[j].start) })
	for i := 1; i < len(ivs); i++ {
		prev, cur := ivs[i-1], ivs[i]
		if !cur.start.After(prev.end) {
			t.Errorf("two leaders at once: %s believed it led until %s, %s from %s",
				prev.name, prev.end.Format("15:04:05.000000"), cur.name, cur.start.Format("15:04:05.000000"))
		}
		if cur.token <= prev.token {
			t.Errorf("token of %s (%d) not above the previous leader %s's (%d)", cur.name, cur.token, prev.name, prev.token)
		}
	}
	return len(ivs)
}
