package readme

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// The examples of these Markdown files run against a real dev agent, one
// fresh agent per file, in a scratch directory laid out as a user's:
//
//	SCRATCH/warden  a checkout: bin/warden, clients/python, clients/typescript
//	                (copies of the client sources, so nothing is written into
//	                this checkout); README.md and the Python and Go READMEs
//	                run here
//	SCRATCH/app     a project beside it (package.json); the TypeScript
//	                README runs here
//
// with WARDEN_SOCKET pointing at the agent and a Python virtualenv first on
// PATH (as a user installing the Python client would have). Every shell
// block (sh, bash, shell, console: its "$ " lines) runs with bash -e -o
// pipefail, in order; a block that cannot run in a test carries
// <!-- not-tested: REASON --> on the line before it, and is listed as
// skipped. Python and TypeScript blocks whose info string is "run"
// ("```python run") are complete programs and run too (python in the
// virtualenv; ts as an ES module under node, so written without type
// annotations); the other Python blocks are fragments, checked for
// syntax only, and the other TypeScript and Go blocks are fragments, not
// run. The test prints what it ran, skipped and left.
var readmes = []struct{ path, cwd string }{
	{"README.md", "warden"},
	{"clients/go/README.md", "warden"},
	{"clients/python/README.md", "warden"},
	{"clients/typescript/README.md", "app"},
}

// blockTimeout bounds one block; none of the examples takes long.
const blockTimeout = 2 * time.Minute

func repoRoot(t *testing.T) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(self), "..", ".."))
}

func TestREADMEExamples(t *testing.T) {
	bin := agenttest.Binary(t) // skipped with -short: it runs warden processes
	root := repoRoot(t)
	scratch := t.TempDir()
	checkout := filepath.Join(scratch, "warden")
	app := filepath.Join(scratch, "app")
	venv := filepath.Join(scratch, "venv")
	layout(t, root, bin, checkout, app)
	if out, err := exec.Command("python3", "-m", "venv", venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}

	var ran, skipped, programs, fragments, checked int
	var skips []string
	for i, f := range readmes {
		md, err := os.ReadFile(filepath.Join(root, f.path))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := Parse(f.path, md)
		if err != nil {
			t.Fatal(err)
		}
		// A fresh agent per file: each README starts from an empty tree.
		agent := agenttest.StartProc(t, filepath.Join(scratch, "data-"+strings.ReplaceAll(f.path, "/", "-")),
			filepath.Join(agenttest.SocketDir(t), fmt.Sprintf("r%d.sock", i)))
		env := blockEnv(agent.Socket, venv)
		cwd := filepath.Join(scratch, f.cwd)
		var pyFragments []Block
		for _, b := range blocks {
			where := fmt.Sprintf("%s:%d", b.File, b.Line)
			kind := b.Kind()
			if b.NotTested != "" && (kind == KindShell || kind == KindProgram) {
				skipped++
				skips = append(skips, fmt.Sprintf("%s (%s)", where, b.NotTested))
				continue
			}
			switch kind {
			case KindShell:
				ran++
				run(t, where, cwd, env, "bash", "-e", "-o", "pipefail", "-c", b.Script())
			case KindProgram:
				programs++
				runProgram(t, where, scratch, cwd, env, venv, b)
			case KindFragment:
				fragments++
				if b.Lang == "python" || b.Lang == "py" {
					pyFragments = append(pyFragments, b)
				}
			}
		}
		checked += len(pyFragments)
		checkPython(t, venv, pyFragments)
		agent.Kill()
	}
	summary := fmt.Sprintf("README examples: %d shell blocks run, %d programs run, %d skipped (marked not-tested), %d fragments not run (%d of them Python, syntax-checked)",
		ran, programs, skipped, fragments, checked)
	t.Log(summary)
	for _, s := range skips {
		t.Log("  skipped " + s)
	}
	fmt.Println(summary)
	if ran == 0 || programs == 0 {
		t.Errorf("nothing ran: %s", summary)
	}
}

// layout makes the scratch checkout (the binary, copies of the clients'
// sources) and the empty project beside it.
func layout(t *testing.T, root, bin, checkout, app string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(checkout, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(checkout, "bin", "warden")); err != nil {
		t.Fatal(err)
	}
	py := filepath.Join(root, "clients", "python")
	copyTree(t, py, filepath.Join(checkout, "clients", "python"), func(rel string, d fs.DirEntry) bool {
		name := d.Name()
		return rel == ".venv" || rel == "tests" || rel == "build" || strings.HasPrefix(name, ".") ||
			name == "__pycache__" || strings.HasSuffix(name, ".egg-info")
	})
	ts := filepath.Join(root, "clients", "typescript")
	for _, f := range []string{"package.json", "package-lock.json", "prepare.mjs", "tsconfig.json", "README.md", "src"} {
		copyTree(t, filepath.Join(ts, f), filepath.Join(checkout, "clients", "typescript", f), nil)
	}
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := `{"name": "app", "version": "1.0.0", "private": true}` + "\n"
	if err := os.WriteFile(filepath.Join(app, "package.json"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the file or directory src to dst, leaving out what skip
// says (rel is the path under src).
func copyTree(t *testing.T, src, dst string, skip func(rel string, d fs.DirEntry) bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel != "." && skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// blockEnv is a user's environment: none of this process's WARDEN_ or
// npm_ variables, the agent's socket, the virtualenv first on PATH.
func blockEnv(socket, venv string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "WARDEN_") || strings.HasPrefix(strings.ToLower(k), "npm_") || k == "VIRTUAL_ENV" || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "WARDEN_SOCKET="+socket, "VIRTUAL_ENV="+venv,
		"PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// run runs one example; its failure fails the test, with its output.
func run(t *testing.T, where, cwd string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = cwd, env
	// Its own process group, killed whole on a timeout: a block may start
	// children (warden lock runs a command).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s: the example failed (%v after %v):\n--- example\n%s\n--- output\n%s", where, err, time.Since(start).Round(time.Millisecond), args[len(args)-1], out)
		return
	}
	t.Logf("%s: ok (%v)", where, time.Since(start).Round(time.Millisecond))
}

// runProgram runs a "run" block: Python in the virtualenv, TypeScript or
// JavaScript as an ES module in the block's directory (where the README's
// own install steps put the client).
func runProgram(t *testing.T, where, scratch, cwd string, env []string, venv string, b Block) {
	t.Helper()
	base := regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(where, "-")
	switch b.Lang {
	case "python", "py":
		file := filepath.Join(scratch, base+".py")
		if err := os.WriteFile(file, []byte(b.Body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, where, cwd, env, filepath.Join(venv, "bin", "python"), file)
	default:
		file := filepath.Join(cwd, base+".mjs")
		if err := os.WriteFile(file, []byte(b.Body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, where, cwd, env, "node", file)
	}
}

// checkPython checks that every Python fragment parses (top-level await
// allowed: the asyncio examples are written as in a notebook).
func checkPython(t *testing.T, venv string, blocks []Block) {
	t.Helper()
	if len(blocks) == 0 {
		return
	}
	type src struct{ Where, Code string }
	var srcs []src
	for _, b := range blocks {
		srcs = append(srcs, src{fmt.Sprintf("%s:%d", b.File, b.Line), b.Body})
	}
	in, _ := json.Marshal(srcs)
	const check = `
import ast, json, sys
bad = 0
for s in json.load(sys.stdin):
    try:
        compile(s["Code"], s["Where"], "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as e:
        bad += 1
        print(f"{s['Where']}: the Python example does not parse: {e}")
sys.exit(1 if bad else 0)
`
	cmd := exec.Command(filepath.Join(venv, "bin", "python"), "-c", check)
	cmd.Stdin = strings.NewReader(string(in))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("Python fragments: %v\n%s", err, out)
	}
}

// TestAgentFlagsDocumented: every flag `warden agent -h` prints has a row
// in docs/cluster.md's flag table and is named in the README.
func TestAgentFlagsDocumented(t *testing.T) {
	bin := agenttest.Binary(t)
	root := repoRoot(t)
	out, _ := exec.Command(bin, "agent", "-h").CombinedOutput()
	flags := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1)
	if len(flags) < 20 {
		t.Fatalf("warden agent -h printed %d flags, expected the full list:\n%s", len(flags), out)
	}
	cluster, err := os.ReadFile(filepath.Join(root, "docs", "cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flags {
		name := "--" + f[1]
		row := regexp.MustCompile("(?m)^\\| (`[^`|]*`, )*`" + regexp.QuoteMeta(name) + "[ `]")
		if !row.Match(cluster) {
			t.Errorf("docs/cluster.md, section 3: no row for %s", name)
		}
		if !regexp.MustCompile(regexp.QuoteMeta(name) + `\b`).Match(readme) {
			t.Errorf("README.md does not mention %s", name)
		}
	}
}
