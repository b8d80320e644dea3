package readme

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	md := "# T\n\n" +
		"```sh\nwarden ls /\n```\n\n" +
		"<!-- not-tested: blocks forever -->\n\n" +
		"```sh\nmake run\n```\n" +
		"- a list item:\n\n  ```console\n  $ warden get /a \\\n  > --json\n  {\"x\": 1}\n  $ warden ls /\n  ```\n" +
		"```python run\nprint(1)\n```\n" +
		"```python\nx = ...\n```\n" +
		"```\nplain output\n```\n"
	blocks, err := Parse("t.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		line            int
		kind, notTested string
		script          string
	}
	wants := []want{
		{3, KindShell, "", "warden ls /"},
		{9, KindShell, "blocks forever", "make run"},
		{14, KindShell, "", "warden get /a \\\n--json\nwarden ls /"},
		{20, KindProgram, "", "print(1)"},
		{23, KindFragment, "", "x = ..."},
		{26, KindText, "", "plain output"},
	}
	if len(blocks) != len(wants) {
		t.Fatalf("%d blocks, want %d: %+v", len(blocks), len(wants), blocks)
	}
	for i, w := range wants {
		b := blocks[i]
		if b.Line != w.line || b.Kind() != w.kind || b.NotTested != w.notTested || b.Script() != w.script {
			t.Errorf("block %d: line %d kind %s not-tested %q script %q; want %+v", i, b.Line, b.Kind(), b.NotTested, b.Script(), w)
		}
	}
}

func TestParseRefusesBadMarkers(t *testing.T) {
	for name, md := range map[string]string{
		"no reason":      "<!-- not-tested: -->\n```sh\nls\n```\n",
		"marks nothing":  "<!-- not-tested: why -->\nsome text\n```sh\nls\n```\n",
		"at the end":     "```sh\nls\n```\n<!-- not-tested: why -->\n",
		"malformed":      "<!--not-tested why-->\n```sh\nls\n```\n",
		"unclosed block": "```sh\nls\n",
	} {
		if _, err := Parse("t.md", []byte(md)); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "t.md:") {
			t.Errorf("%s: error %q does not say where", name, err)
		}
	}
}
