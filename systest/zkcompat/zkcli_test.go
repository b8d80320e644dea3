package zkcompat

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// zkCliScript is fed to zkCli on its standard input, one command a line.
const zkCliScript = `create /zkcli root
create /zkcli/p v1
create -s /zkcli/seq- s
create -s /zkcli/seq- s
create -e /zkcli/eph e
create -s -e /zkcli/eseq- x
create -c /zkcli/cont c
create -t 60000 /zkcli/ttl t
create /zkcli/p again
create /zkcli/nope/x x
get /zkcli/p
set /zkcli/p v2
get -s /zkcli/p
set -v 0 /zkcli/p stale
stat /zkcli/eph
ls /zkcli
ls -s /zkcli
get -w /zkcli/p
set /zkcli/p v3
get /zkcli/p
create /zkcli/dir d
create /zkcli/dir/a a
create /zkcli/dir/a/b b
delete /zkcli/dir
delete /zkcli/missing
deleteall /zkcli/dir
delete /zkcli/seq-0000000002
ls /zkcli
quit
`

// zkCliWant are what zkCli must print for zkCliScript, in this order
// (regular expressions, each matched after the previous match; times
// and zxids are left free).
var zkCliWant = []string{
	`(?m)^Created /zkcli\n`,
	`(?m)^Created /zkcli/p\n`,
	`(?m)^Created /zkcli/seq-0000000001\n`,
	`(?m)^Created /zkcli/seq-0000000002\n`,
	`(?m)^Created /zkcli/eph\n`,
	`(?m)^Created /zkcli/eseq-0000000004\n`,
	`(?m)^Created /zkcli/cont\n`,
	`(?m)^Created /zkcli/ttl\n`,
	`(?m)^Node already exists: /zkcli/p\n`,
	`(?m)^Node does not exist: /zkcli/nope/x\n`,
	`(?m)^v1\n`,
	`(?m)^v2\ncZxid = 0x[0-9a-f]+\nctime = .+\nmZxid = 0x[0-9a-f]+\nmtime = .+\npZxid = 0x[0-9a-f]+\ncversion = 0\ndataVersion = 1\naclVersion = 0\nephemeralOwner = 0x0\ndataLength = 2\nnumChildren = 0\n`,
	`(?m)^version No is not valid : /zkcli/p\n`,
	`(?m)^cZxid = 0x[0-9a-f]+\n(.+\n){4}cversion = 0\ndataVersion = 0\naclVersion = 0\nephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*\ndataLength = 1\nnumChildren = 0\n`,
	`(?m)^\[cont, eph, eseq-0000000004, p, seq-0000000001, seq-0000000002, ttl\]\n`,
	`(?m)^\[cont, eph, eseq-0000000004, p, seq-0000000001, seq-0000000002, ttl\]\ncZxid = .+\n(.+\n){4}cversion = 7\n(.+\n){3}dataLength = 4\nnumChildren = 7\n`,
	`(?m)^v3\n`,
	`(?m)^Created /zkcli/dir/a/b\n`,
	`(?m)^Node not empty: /zkcli/dir\n`,
	`(?m)^Node does not exist: /zkcli/missing\n`,
	`(?m)^\[cont, eph, eseq-0000000004, p, seq-0000000001, ttl\]\n`,
}

// zkCliPath is Debian's zkCli.sh, or $ZKCLI.
func zkCliPath(t *testing.T) string {
	if p := os.Getenv("ZKCLI"); p != "" {
		return p
	}
	p := "/usr/share/zookeeper/bin/zkCli.sh"
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("zkCli is not installed (systest/zkcompat/install.sh installs Debian's zookeeper): %v", err)
	}
	return p
}

// TestZkCli drives ZooKeeper's own shell, zkCli, through every create
// mode (-s, -e, -c, -t), get, set (and a stale -v), stat, ls (-s),
// delete, deleteall and a watch (get -w) firing, and checks what it
// prints.
func TestZkCli(t *testing.T) {
	for _, kind := range Kinds(t) {
		t.Run(kind, func(t *testing.T) {
			tg := Start(t, kind, 1)
			cmd := exec.Command(zkCliPath(t), "-server", tg.Hosts())
			cmd.Stdin = strings.NewReader(zkCliScript)
			cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+t.TempDir(), "CLIENT_JVMFLAGS=-Xmx128m -XX:TieredStopAtLevel=1")
			out := runToolCmd(t, cmd, 2*time.Minute)
			// zkCli prints a watch's event from its event thread, so
			// only its presence is checked, not its place.
			if !strings.Contains(out, "WatchedEvent state:SyncConnected type:NodeDataChanged path:/zkcli/p") {
				t.Fatalf("zkCli did not print the watch's event (get -w, then set):\n%s", out)
			}
			rest := out
			for _, w := range zkCliWant {
				loc := regexp.MustCompile(w).FindStringIndex(rest)
				if loc == nil {
					// Go on from the same place: one missing line
					// should not hide the others.
					t.Errorf("zkCli's output lacks %q after what came before", w)
					continue
				}
				rest = rest[loc[1]:]
			}
			if t.Failed() {
				t.Logf("zkCli's output:\n%s", out)
			}
		})
	}
}
