package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/fsm"
)

func init() {
	register("snapshot", command{
		usage: "save FILE | inspect [--json] FILE | restore [--force] FILE",
		help:  "back up the cluster's tree to a file, describe a backup, or seed a new cluster from one",
		run:   runSnapshot,
	})
}

func runSnapshot(args []string) error {
	if helpAsked(args) {
		return printVerbUsage("snapshot")
	}
	if len(args) == 0 {
		return usagef("missing subcommand: save, inspect or restore")
	}
	switch args[0] {
	case "save":
		return runSnapshotSave(args[1:])
	case "inspect":
		return runSnapshotInspect(args[1:])
	case "restore":
		return runSnapshotRestore(args[1:])
	}
	return usagef("unknown subcommand %q: save, inspect or restore", args[0])
}

// runSnapshotSave writes FILE.part (room for the header, the data as it
// arrives, then the header), syncs it and renames it to FILE: a save that
// fails leaves no FILE, and never a truncated one.
func runSnapshotSave(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("snapshot save", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	longTimeout(fs)
	return cf.run(fs, args, 1, 1, func(ctx context.Context, cl *warden.Client) error {
		h, err := saveSnapshot(ctx, cl, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Printf("saved %s: zxid %d, %d znodes, %d bytes of data\n", fs.Arg(0), h.Zxid, h.Nodes, h.Length)
		return nil
	})
}

func saveSnapshot(ctx context.Context, cl *warden.Client, path string) (h fsm.BackupHeader, err error) {
	// A new file of the user's own, readable by nobody else (the tree's
	// data is in it): a stale FILE.part, whatever its mode, or a link
	// there, is replaced rather than written through.
	part := path + ".part"
	if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return h, err
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return h, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
		}
	}()
	if _, err = f.Seek(fsm.BackupHeaderSize, io.SeekStart); err != nil {
		return h, err
	}
	info, err := cl.SaveSnapshot(ctx, f)
	if err != nil {
		return h, err
	}
	h = fsm.BackupHeader{Version: fsm.BackupVersion, Zxid: info.Zxid, Nodes: info.Nodes, Length: info.Size, SHA256: info.SHA256}
	hdr, _ := h.MarshalBinary()
	if _, err = f.WriteAt(hdr, 0); err != nil {
		return h, err
	}
	if err = f.Sync(); err != nil {
		return h, err
	}
	if err = f.Close(); err != nil {
		return h, err
	}
	if err = os.Rename(part, path); err != nil {
		return h, err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return h, nil
}

// snapshotInfo is what inspect prints.
type snapshotInfo struct {
	File    string `json:"file"`
	Version uint32 `json:"version"`
	Zxid    uint64 `json:"zxid"`
	Nodes   uint64 `json:"nodes"`
	Size    uint64 `json:"size"` // bytes of data after the header
	SHA256  string `json:"sha256"`
}

func runSnapshotInspect(args []string) error {
	fs := flag.NewFlagSet("snapshot inspect", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := fsm.VerifyBackup(f)
	if err != nil {
		if errors.Is(err, fsm.ErrNotBackup) || errors.Is(err, fsm.ErrBackupCorrupt) {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		return err
	}
	info := snapshotInfo{File: fs.Arg(0), Version: h.Version, Zxid: h.Zxid, Nodes: h.Nodes, Size: h.Length, SHA256: hex.EncodeToString(h.SHA256[:])}
	if *asJSON {
		return printJSON(info)
	}
	fmt.Printf("file      %s\nformat    %d\nzxid      %d\nznodes    %d\nsize      %d bytes\nsha256    %s (verified)\n",
		info.File, info.Version, info.Zxid, info.Nodes, info.Size, info.SHA256)
	return nil
}

func runSnapshotRestore(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("snapshot restore", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	longTimeout(fs)
	force := fs.Bool("force", false, "restore even into a cluster whose tree holds data (it is replaced)")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	path := fs.Arg(0)
	// Check the file here first: a bad one is refused before anything is
	// sent (the leader checks it again).
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := fsm.VerifyBackup(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	res, err := cl.RestoreSnapshot(ctx, f, *force)
	if err != nil {
		if errors.Is(err, warden.ErrNotEmpty) {
			return fmt.Errorf("%w\n(the restore replaces the whole tree; run it against a new cluster, or add --force)", err)
		}
		return err
	}
	fmt.Printf("restored %s: zxid %d, %d znodes (sha256 %x); %d sessions of the snapshot ended; later writes get zxids above %d\n",
		path, res.Zxid, res.Nodes, h.SHA256[:8], res.SessionsEnded, res.Index)
	return nil
}

// longTimeout makes --op-timeout default to 10 minutes: a snapshot moves
// the whole tree.
func longTimeout(fs *flag.FlagSet) {
	const d = 10 * time.Minute
	_ = fs.Set("op-timeout", d.String())
	fs.Lookup("op-timeout").DefValue = d.String()
}
