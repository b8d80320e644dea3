package main

import (
	"flag"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The agent's --config file is HCL's native syntax, attributes only:
//
//	server           = true
//	bootstrap_expect = 3
//	join             = ["10.0.0.1", "10.0.0.2"]
//	session_timeout  = "10s"
//
// Each key is an agent flag (see settingKey); values are literals of the
// flag's type: true/false, whole numbers, strings (durations as strings
// such as "10s"), and lists of strings for repeatable flags. Every mistake
// names the file and line.

// fileSetting is one key's value from the file, as the strings its flag's
// Set takes (one per element for a list).
type fileSetting struct {
	values []string
	line   int
}

// readConfigFile parses path and returns its settings by flag name.
func readConfigFile(path string, fs *flag.FlagSet) (map[string]fileSetting, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, diagError(path, diags)
	}
	body := f.Body.(*hclsyntax.Body)
	var errs []string
	for _, b := range body.Blocks {
		errs = append(errs, fmt.Sprintf("%s:%d: %q is a block; the config file has only key = value settings", path, b.TypeRange.Start.Line, b.Type))
	}
	attrs := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].SrcRange.Start.Byte < attrs[j].SrcRange.Start.Byte })
	out := map[string]fileSetting{}
	for _, a := range attrs {
		line := a.SrcRange.Start.Line
		name := strings.ReplaceAll(a.Name, "_", "-")
		fl := fs.Lookup(name)
		if fl == nil || notSettings[name] || strings.Contains(a.Name, "-") {
			errs = append(errs, fmt.Sprintf("%s:%d: unknown key %q", path, line, a.Name))
			continue
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			errs = append(errs, fmt.Sprintf("%s:%d: key %q: %s (values are literals: true, 3, \"text\", [\"a\", \"b\"])", path, line, a.Name, diags[0].Summary))
			continue
		}
		vals, err := settingValues(fl, v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: key %q: %v", path, line, a.Name, err))
			continue
		}
		out[name] = fileSetting{values: vals, line: line}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// diagError formats HCL's syntax errors as FILE:LINE: what.
func diagError(path string, diags hcl.Diagnostics) error {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		lines = append(lines, fmt.Sprintf("%s:%d: %s", path, line, msg))
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

// settingValues checks v against the flag's type and renders it for Set.
func settingValues(fl *flag.Flag, v cty.Value) ([]string, error) {
	if v.IsNull() {
		return nil, fmt.Errorf("null is not a value")
	}
	if !v.IsWhollyKnown() {
		return nil, fmt.Errorf("the value is not a literal")
	}
	got := v.Type().FriendlyName()
	getter, _ := fl.Value.(flag.Getter)
	if getter == nil {
		return nil, fmt.Errorf("this setting cannot be read from a file")
	}
	switch getter.Get().(type) {
	case bool:
		if v.Type() != cty.Bool {
			return nil, fmt.Errorf("want true or false, got %s", got)
		}
		return []string{strconv.FormatBool(v.True())}, nil
	case int, uint64:
		if v.Type() != cty.Number {
			return nil, fmt.Errorf("want a whole number, got %s", got)
		}
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return nil, fmt.Errorf("want a whole number, got %s", bf.Text('g', -1))
		}
		i, _ := bf.Int(new(big.Int))
		return []string{i.String()}, nil
	case time.Duration:
		if v.Type() != cty.String {
			return nil, fmt.Errorf(`want a duration as a string such as "10s" or "1m30s", got %s`, got)
		}
		if _, err := time.ParseDuration(v.AsString()); err != nil {
			return nil, fmt.Errorf(`%q is not a duration (want e.g. "10s" or "1m30s")`, v.AsString())
		}
		return []string{v.AsString()}, nil
	case string:
		if v.Type() != cty.String {
			return nil, fmt.Errorf("want a string, got %s", got)
		}
		return []string{v.AsString()}, nil
	case []string:
		t := v.Type()
		if !t.IsTupleType() && !t.IsListType() {
			return nil, fmt.Errorf(`want a list of strings such as ["a", "b"], got %s`, got)
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.String {
				return nil, fmt.Errorf(`want a list of strings such as ["a", "b"], got an element of type %s`, e.Type().FriendlyName())
			}
			out = append(out, e.AsString())
		}
		return out, nil
	}
	return nil, fmt.Errorf("this setting cannot be read from a file")
}
