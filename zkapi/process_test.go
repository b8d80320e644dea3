package zkapi_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/warden-dev/warden/agent/agenttest"
)

// The helper process: a go-zookeeper client that creates an ephemeral
// node, says so, and waits to be killed.
const (
	helperAddrEnv = "WARDEN_ZK_HELPER_ADDR"
	helperTest    = "TestZKClientProcess"
)

func TestZKClientProcess(t *testing.T) {
	addr := os.Getenv(helperAddrEnv)
	if addr == "" {
		t.Skip("helper process for TestEphemeralOfAKilledClientProcessGoesAfterItsTimeout")
	}
	c, events, err := zk.Connect([]string{addr}, 2*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, events, zk.StateHasSession)
	if _, err := c.Create("/killed", nil, zk.FlagEphemeral, open); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %d\n", c.SessionID())
	select {} // until SIGKILL
}

func TestEphemeralOfAKilledClientProcessGoesAfterItsTimeout(t *testing.T) {
	a := startAgent(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+helperTest+"$")
	cmd.Env = append(os.Environ(), helperAddrEnv+"="+a.ZKAddr())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	var sid uint64
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "READY %d", &sid); err == nil {
			break
		}
	}
	if sid == 0 {
		t.Fatal("the client process did not create its node")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	// The agent sees the connection drop at once, but a ZooKeeper
	// session outlives its connection: the node is still there...
	if _, _, _, err := a.Node().Get("/killed", false); err != nil {
		t.Fatalf("the node went with the connection, not with the session: %v", err)
	}
	// ...until the session times out (2s).
	agenttest.Eventually(t, 15*time.Second, "the killed client's ephemeral node to go", func() bool {
		_, _, _, err := a.Node().Get("/killed", false)
		return err != nil
	})
	// The timeout runs from the session's last keepalive, a little before
	// the kill; half of it is the bound no drop-triggered close meets.
	if gone := time.Since(killed); gone < time.Second {
		t.Fatalf("the node went %v after the kill, well before the session's 2s timeout", gone)
	}
	if _, ok := a.Node().FSM().Session(sid); ok {
		t.Fatal("the session outlived its node")
	}
}

func TestClientKeepsItsSessionAcrossAnAgentRestart(t *testing.T) {
	dir := t.TempDir()
	ip := agenttest.NextIP()
	p := agenttest.StartProc(t, filepath.Join(dir, "data"), filepath.Join(agenttest.SocketDir(t), "w.sock"),
		"--zk-port", "2181", "--zk-bind", ip)
	c, events, err := zk.Connect([]string{p.ZKAddr()}, 10*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	waitState(t, events, zk.StateHasSession)
	sid := c.SessionID()
	if _, err := c.Create("/survivor", []byte("x"), zk.FlagEphemeral, open); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	waitState(t, events, zk.StateDisconnected)
	p.Restart()
	waitState(t, events, zk.StateHasSession)
	if c.SessionID() != sid {
		t.Fatalf("session %#x after the restart; want %#x", c.SessionID(), sid)
	}
	ok, st, err := c.Exists("/survivor")
	if err != nil || !ok || st.EphemeralOwner != sid {
		t.Fatalf("ephemeral after the agent's restart: %v %+v %v", ok, st, err)
	}
}
